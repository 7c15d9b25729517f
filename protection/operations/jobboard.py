"""The jobboard: TaskFlow's own Redis or etcd backend, as configured.

With ``[jobboard] address`` set, an operation is not run by the process
that asked for it: that process records it (row, checkpoint, flow detail
with its factory), marks it ``queued`` and posts a job naming it; a
conductor (:mod:`protection.operations.conductor`) claims the job and runs it.
A job carries only the operation id (its logbook names the flow detail):
everything else, and never a credential, is in the shared persistence database.

Claims expire: a conductor claims a job for ``claim_expiry`` seconds and
extends its claims every ``keep_alive`` seconds while it works, so the
jobs of a conductor that dies are claimed by another one once that time
has passed (TaskFlow's conductors claim without an expiry of their own:
:class:`ExpiringClaims` adds it).
"""

import dataclasses
import os
import socket

from taskflow.jobs import backends as job_backends

from protection import config
from protection import exceptions
from protection.operations import flow_factory

DEFAULT_PORTS = {"redis": 6379, "etcd": 2379}


def configured(conf):
    """Whether operations go through a jobboard."""
    return bool(conf.jobboard.address)


def _host_port(conf):
    address = conf.jobboard.address
    host, sep, port = address.rpartition(":")
    if not sep:
        host, port = address, DEFAULT_PORTS[conf.jobboard.backend]
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        raise exceptions.ConfigError(
            f"bad configuration: [jobboard] address {address!r}: expected "
            "HOST:PORT") from None


def _tls(board, names):
    """TaskFlow's TLS settings of one backend, named by ``names``
    (ca, cert, key); only the files that are set."""
    files = (board.ca_file, board.cert_file, board.key_file)
    return {name: path for name, path in zip(names, files) if path}


def _check_tls(board):
    if (board.cert_file or board.key_file or board.ca_file) \
            and not board.tls:
        raise exceptions.ConfigError(
            "bad configuration: [jobboard] ca_file, cert_file or key_file "
            "is set but tls is false: set tls = true")
    if bool(board.cert_file) != bool(board.key_file):
        raise exceptions.ConfigError(
            "bad configuration: [jobboard] cert_file and key_file go "
            "together")


def _board_conf(conf):
    host, port = _host_port(conf)
    board = conf.jobboard
    _check_tls(board)
    if board.backend == "etcd":
        if board.password:
            raise exceptions.ConfigError(
                "bad configuration: [jobboard] password is set, but "
                "TaskFlow's etcd jobboard cannot authenticate with a "
                "password; unset it and authenticate with a client "
                "certificate (tls, cert_file, key_file)")
        found = {"board": "etcd", "host": host, "port": port,
                 "path": board.namespace, "ttl": board.claim_expiry}
        if board.tls:
            found["protocol"] = "https"
            found.update(_tls(board, ("ca_cert", "cert_cert", "cert_key")))
        return found
    found = {"board": "redis", "host": host, "port": port,
             "namespace": board.namespace, "socket_timeout": 10.0}
    if board.password:
        found["password"] = board.password
    if board.tls:
        found.update(ssl=True, ssl_cert_reqs="required")
        found.update(_tls(board, ("ssl_ca_certs", "ssl_certfile",
                                  "ssl_keyfile")))
    return found


class ExpiringClaims:
    """A jobboard whose ``claim`` always sets the configured expiry."""

    def __init__(self, board, expiry):
        self._board = board
        self.expiry = expiry

    def claim(self, job, who, expiry=None):
        return self._board.claim(job, who, expiry=expiry or self.expiry)

    def __getattr__(self, name):
        return getattr(self._board, name)


def connect(conf, name, persistence):
    """The configured jobboard, connected, with expiring claims.

    Refuses a SQLite persistence database (see
    :func:`protection.config.shared_persistence_url`); a board that
    cannot be reached is a one-line :class:`~protection.exceptions.
    OperationError`.
    """
    config.shared_persistence_url(conf)
    try:
        board = job_backends.fetch(name, _board_conf(conf),
                                   persistence=persistence)
        board.connect()
    except Exception as exc:  # noqa: BLE001 - one clear line
        raise exceptions.OperationError(
            f"cannot reach the {conf.jobboard.backend} jobboard at "
            f"{conf.jobboard.address} ([jobboard] address): "
            f"{type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    return ExpiringClaims(board, conf.jobboard.claim_expiry)


def default_name(role):
    return f"stackvault-{role}-{socket.gethostname()}-{os.getpid()}"


@dataclasses.dataclass
class Posted:
    """What a posted operation returns at once: its kind and id."""

    kind: str
    operation_id: str


class NotPosted(exceptions.JobNotPosted):
    """The operation was queued but its job could not be posted; it is
    :attr:`operation` (queued, at its new generation) for the caller to
    give up."""

    def __init__(self, operation, reason):
        super().__init__(reason)
        self.operation = operation


class Poster:
    """Posts operations as jobs (what the CLI does with a jobboard)."""

    def __init__(self, conf, stores):
        self._conf = conf
        self._stores = stores
        self._board = None

    def connect(self):
        """Reach the jobboard (once); a board that is down is a one-line
        OperationError. Called before an operation is recorded, so that
        an outage leaves nothing behind."""
        if self._board is None:
            self._board = connect(self._conf, default_name("client"),
                                  self._stores.flows.backend)
        return self._board

    def post(self, op):
        """Queue ``op`` (its flow detail records the factory) and post a
        job naming it; a conductor takes it from there. A post that fails
        raises NotPosted with the queued operation."""
        board = self.connect()
        flows = self._stores.flows
        book, detail = flows.create(op.id, {"kind": op.kind})
        flow_factory.record(detail, flows.backend, op)
        queued = self._stores.operations.queue(op)
        try:
            post_job(board, queued, book)
        except Exception as exc:  # noqa: BLE001 - one line, then given up
            raise NotPosted(queued, self._refused(exc)) from None
        return Posted(op.kind, op.id)

    def post_again(self, op, changes=None, drop=()):
        """Post a recorded operation once more (a resume or an abort asked
        through the API): queue it, set ``changes`` in its ``args`` (a new
        trust, an abort request; ``drop`` removes keys), post its job. A
        post that fails puts it back as it was (changes undone) and
        raises NotPosted; nothing is left queued."""
        board = self.connect()
        stores = self._stores
        try:
            book, _detail = stores.flows.load(op.id)
        except LookupError:
            raise exceptions.StackvaultError(
                f"operation {op.id} has no saved flow to resume "
                "(pruned?)") from None
        before = {key: (op.args or {}).get(key)
                  for key in [*(changes or {}), *drop]}
        queued = stores.operations.queue(op)
        stores.operations.update_args(op.id, changes, drop)
        stores.flows.reset_attempts(op.id)     # asked for: counted anew
        try:
            post_job(board, queued, book)
        except Exception as exc:  # noqa: BLE001 - undone, one line
            stores.operations.update_args(
                op.id, {k: v for k, v in before.items() if v is not None},
                drop=[k for k, v in before.items() if v is None])
            stores.operations.unqueue(queued, op.status)
            raise NotPosted(queued, self._refused(exc)) from None
        return Posted(op.kind, op.id)

    def _refused(self, exc):
        """The one line a refused post gives."""
        board = self._conf.jobboard
        first = (str(exc).splitlines() or [""])[0]
        return (f"the {board.backend} jobboard at {board.address} refused "
                f"the job: {type(exc).__name__}: {first}")

    def close(self):
        if self._board is not None:
            self._board.close()
            self._board = None


def post_job(board, op, book):
    """Post the job of ``op`` (its logbook ``book``): the operation id is
    all it carries."""
    board.post(f"{op.kind} {op.id}", book=book,
               details={"operation_id": op.id})


def operations_named(board):
    """The ids of the operations the jobs on ``board`` name (claimed or
    not): what the sweeper and a follower look for."""
    return {(job.details or {}).get("operation_id")
            for job in board.iterjobs(only_unclaimed=False,
                                      ensure_fresh=True)}
