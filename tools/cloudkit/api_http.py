"""A small HTTP client of the protection API, for the fullstack tests and
the benchmarks: real tokens (an openstacksdk connection's, or a token
string), JSON in and out, and waits for operations and plan runs to
end."""

import json
import pathlib
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


def snapshot(directory):
    """Every file under ``directory``: ``{relative path: (size, mtime)}``
    (a change to any is a change to the bank)."""
    root = pathlib.Path(directory)
    return {str(p.relative_to(root)): (p.stat().st_size,
                                       p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}
