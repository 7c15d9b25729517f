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


def _board_conf(conf):
    host, port = _host_port(conf)
    board = conf.jobboard
    if board.backend == "etcd":
        return {"board": "etcd", "host": host, "port": port,
                "path": board.namespace, "ttl": board.claim_expiry}
    found = {"board": "redis", "host": host, "port": port,
             "namespace": board.namespace, "socket_timeout": 10.0}
    if board.password:
        found["password"] = board.password
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


class Poster:
    """Posts operations as jobs (what the CLI does with a jobboard)."""

    def __init__(self, conf, stores):
        self._conf = conf
        self._stores = stores
        self._board = None

    def _connected(self):
        if self._board is None:
            self._board = connect(self._conf, default_name("client"),
                                  self._stores.flows.backend)
        return self._board

    def post(self, op):
        """Queue ``op`` (its flow detail records the factory) and post a
        job naming it; a conductor takes it from there."""
        board = self._connected()
        flows = self._stores.flows
        book, detail = flows.create(op.id, {"kind": op.kind})
        flow_factory.record(detail, flows.backend, op)
        self._stores.operations.queue(op.id)
        board.post(f"{op.kind} {op.id}", book=book,
                   details={"operation_id": op.id})
        return Posted(op.kind, op.id)

    def close(self):
        if self._board is not None:
            self._board.close()
            self._board = None
