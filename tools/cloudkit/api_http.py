"""A small HTTP client of the protection API, for the fullstack tests and
the benchmarks: real tokens (an openstacksdk connection's, or a token
string), JSON in and out, and waits for operations and plan runs to
end; and the configuration of an API of a test's or benchmark's own on
devcloud (:func:`own_api_conf`)."""

import configparser
import json
import os
import pathlib
import socket
import time
import urllib.error
import urllib.request

SERVICE_TYPE = "data-protection"
STILL_RUNNING = ("running", "queued")


def token_of(who):
    """``who``: a connection (its current token) or a token string."""
    return who if isinstance(who, str) else who.auth_token


def call(url, method, path, who=None, body=None, timeout=120):
    """``(status, JSON body or None)`` of one request."""
    headers = {"Content-Type": "application/json"}
    if who is not None:
        headers["X-Auth-Token"] = token_of(who)
    request = urllib.request.Request(
        url + path, method=method, headers=headers,
        data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            text = resp.read()
            return resp.status, json.loads(text) if text else None
    except urllib.error.HTTPError as exc:
        text = exc.read()
        return exc.code, json.loads(text) if text else None


def wait_operation(url, who, operation_id, timeout=900, interval=1.0):
    """The operation once it is neither running nor queued (polled every
    ``interval`` seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = call(url, "GET", f"/v1/operations/{operation_id}",
                            who)
        assert status == 200, body
        if body["operation"]["status"] not in STILL_RUNNING:
            return body["operation"]
        time.sleep(interval)
    raise AssertionError(f"operation {operation_id} still running after "
                         f"{timeout} s")


def wait_plan_run(url, who, plan_id, timeout=900):
    """The plan once its run is no longer ``running``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = call(url, "GET", f"/v1/plans/{plan_id}", who)
        assert status == 200, body
        if body["plan"]["last_status"] != "running":
            return body["plan"]
        time.sleep(1.0)
    raise AssertionError(f"plan {plan_id} still running after {timeout} s")


def answers(url, timeout=5):
    try:
        with urllib.request.urlopen(url + "/", timeout=timeout) as resp:
            return resp.status == 200
    except OSError:
        return False


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now, for an API
    (or another server) of a test's or benchmark's own."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def deployed_url(conn):
    """The API's URL in ``conn``'s catalog (None: not registered)."""
    try:
        found = conn.endpoint_for(SERVICE_TYPE)
    except Exception:   # noqa: BLE001 - keystoneauth's EndpointNotFound
        return None
    return found.rstrip("/") if found else None


def devcloud_state(clouds_yaml):
    """devcloud's state directory: the one holding its clouds.yaml."""
    return pathlib.Path(clouds_yaml).resolve().parent


class NoDeployedApi(RuntimeError):
    """devcloud's API has no configuration to copy: ``tools/devcloud api``
    has not run, or ``OS_CLIENT_CONFIG_FILE`` is unset (``tools/devcloud
    env``)."""


def deployed_api_conf(clouds_yaml=None):
    """devcloud's API's configuration, parsed (no interpolation): the
    ``etc/stackvault/stackvault-api.conf`` that ``tools/devcloud api``
    writes in the state directory of ``clouds_yaml`` (default
    ``$OS_CLIENT_CONFIG_FILE``). Raises :class:`NoDeployedApi`."""
    clouds = clouds_yaml or os.environ.get("OS_CLIENT_CONFIG_FILE")
    path = clouds and devcloud_state(clouds) / "etc" / "stackvault" / \
        "stackvault-api.conf"
    if not path or not path.is_file():
        raise NoDeployedApi("devcloud's API is not configured (tools/"
                            "devcloud api), or OS_CLIENT_CONFIG_FILE is "
                            "unset (tools/devcloud env)")
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path)
    return parser


def own_api_conf(directory, /, filename="stackvault-api.conf", **overrides):
    """A copy of devcloud's API's configuration for an API (or conductor)
    of a test's or a benchmark's own: its ``[keystone_authtoken]`` and
    ``[trustee]`` (the service user), with ``[filesystem_bank] path`` =
    ``directory/bank`` and ``[persistence] connection`` = a SQLite
    database ``directory/api.db``, then ``overrides``, each
    ``section={option: value}`` (a value is written as ``str(value)``;
    a section devcloud's has not is added). Written to
    ``directory/filename``, mode 0600 (it holds the service user's
    password); ``directory`` is made (0700) when missing. Returns the
    file's path. Raises :class:`NoDeployedApi`.
    """
    directory = pathlib.Path(directory)
    parser = deployed_api_conf()
    parser["filesystem_bank"]["path"] = str(directory / "bank")
    parser["persistence"]["connection"] = f"sqlite:///{directory}/api.db"
    for section, options in overrides.items():
        if not parser.has_section(section):
            parser.add_section(section)
        for option, value in options.items():
            parser[section][option] = str(value)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / filename
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)        # a file there before may have had more
    with open(fd, "w") as out:
        parser.write(out)
    return path


def snapshot(directory):
    """Every file under ``directory``: ``{relative path: (size, mtime)}``
    (a change to any is a change to the bank)."""
    root = pathlib.Path(directory)
    return {str(p.relative_to(root)): (p.stat().st_size,
                                       p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}
