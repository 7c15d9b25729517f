"""``status``: each service, its pid, its port, and whether it answers.

Servers with a port answer if they answer HTTP (any status below 500) or,
for MariaDB/RabbitMQ/epmd, accept a connection.  RPC-only services
(conductor, scheduler, compute, cinder-volume, heat-engine, ...) answer if
their API lists them as up; that needs Keystone, so without it they show
``?``.  Runs with the system python: stdlib only.
"""

import json
import socket
import urllib.error
import urllib.request

from . import procs
from .context import ADMIN_PASSWORD, KEYSTONE_URL
from .ports import HOST, url

HTTP_PATHS = {
    "keystone-api": "/v3",
    "keystone": "/v3",
    "glance": "/",
    "placement": "/",
    "neutron-api": "/",
    "nova-api": "/",
    "cinder-api": "/",
    "heat-api": "/",
    "swift-proxy": "/healthcheck",
    "swift-account": "/healthcheck",
    "swift-container": "/healthcheck",
    "swift-object": "/healthcheck",
}


def _http(port, path):
    try:
        urllib.request.urlopen(
            "http://%s:%d%s" % (HOST, port, path), timeout=5
        ).read()
        return True
    except urllib.error.HTTPError as e:
        return e.code < 500
    except OSError:
        return False


def _tcp(port):
    try:
        with socket.create_connection((HOST, port), timeout=2):
            return True
    except OSError:
        return False


def _token():
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": "admin",
                        "domain": {"name": "Default"},
                        "password": ADMIN_PASSWORD,
                    }
                },
            },
            "scope": {
                "project": {"name": "admin", "domain": {"name": "Default"}}
            },
        }
    }
    req = urllib.request.Request(
        KEYSTONE_URL + "/auth/tokens",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        token = r.headers["X-Subject-Token"]
        project = json.load(r)["token"]["project"]["id"]
    return token, project


def _get(u, token):
    req = urllib.request.Request(u, headers={"X-Auth-Token": token})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def _rpc_states():
    """binary -> True/False from the APIs' service lists."""
    states = {}
    try:
        token, project = _token()
    except Exception:
        return None
    for u, key, fld in (
        (url("nova", "/v2.1/os-services"), "services", "state"),
        (url("cinder", "/v3/%s/os-services" % project), "services", "state"),
        (url("heat", "/v1/%s/services" % project), "services", "status"),
    ):
        try:
            for s in _get(u, token)[key]:
                states[s["binary"]] = (
                    states.get(s["binary"], False) or s[fld] == "up"
                )
        except Exception:
            continue
    return states


def collect(ctx):
    from . import boot

    rpc = None
    rows = []
    for p in boot.all_procs(ctx):
        pid = procs.read_pid(ctx.layout, p.name)
        if not pid:
            answers = "no"
        elif p.port and p.name in HTTP_PATHS:
            answers = "yes" if _http(p.port, HTTP_PATHS[p.name]) else "no"
        elif p.port:
            answers = "yes" if _tcp(p.port) else "no"
        else:
            if rpc is None:
                rpc = _rpc_states() or {}
            state = rpc.get(p.name)
            answers = "?" if state is None else ("yes" if state else "no")
        rows.append((p.name, pid, p.port, answers))
    return rows
