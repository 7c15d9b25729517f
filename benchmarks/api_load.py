"""Load on the protection API: GET /v1/checkpoints and GET
/v1/operations/{id} with 50 concurrent connections (issue #22, item 7).

The load comes from Debian's ``wrk`` (``apt-get install wrk``: compiled,
so the client does not eat the machine's CPUs), with a Lua script that
sends the member's token and prints the latency percentiles. Beside each
API figure, its anchors from the same run on the same machine: Keystone's
own ``GET /v3`` (no token) and Keystone validating that token (``GET
/v3/auth/tokens``, what keystonemiddleware asks when its cache misses).
The API validates each token once and keeps it
(``[keystone_authtoken] token_cache_time``), so from the second request
on a token costs no call to Keystone.

Goal: p99 under 100 ms at 200 requests/s (a benchmark, not a CI gate).
Each target is driven twice: flat out (wrk sends as fast as the server
answers: the throughput; with 50 connections a request then waits for
the 49 before it, so its latency is about 50 / throughput) and paced at
``--rate`` (200/s: each connection waits ``connections / rate`` between
two requests, wrk's ``delay()``), whose latencies are the goal's.

Before the load, one key pair of the member is protected through the API
(so that there is a checkpoint to list and an operation to show); it is
deleted after, with its checkpoint.

    benchmarks/api_load.py [--os-cloud devcloud] [--duration 15]
"""

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tools.cloudkit import api_http  # noqa: E402

KP = "OS::Nova::KeyPair"
RATE_GOAL = 200
LUA = """
wrk.headers["X-Auth-Token"] = "%(token)s"
%(extra)s
%(pace)s
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %%d, "seconds": %%f, "p50_ms": %%f, "p99_ms": %%f, '
    .. '"max_ms": %%f, "non_2xx": %%d, "socket_errors": %%d}\\n',
    summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1e3, latency:percentile(99) / 1e3,
    latency.max / 1e3, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout))
end
"""


def wrk(url, token, connections, duration, extra_headers=None, rate=None):
    """One wrk run on ``url`` (paced at ``rate`` requests/s in all, or
    flat out): the dict its ``done`` printed, plus the requests per
    second."""
    extra = "\n".join(f'wrk.headers["{k}"] = "{v}"'
                      for k, v in (extra_headers or {}).items())
    pace = "" if not rate else \
        f"delay = function() return {connections * 1000 // rate} end"
    with tempfile.NamedTemporaryFile("w", suffix=".lua",
                                     delete=False) as script:
        script.write(LUA % {"token": token, "extra": extra, "pace": pace})
    try:
        os.chmod(script.name, 0o600)
        done = subprocess.run(
            ["wrk", "-t", "2", "-c", str(connections), "-d",
             f"{duration}s", "--timeout", "10s", "-s", script.name, url],
            capture_output=True, text=True, timeout=duration + 60,
            check=True)
    finally:
        os.unlink(script.name)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    found["rps"] = found["requests"] / found["seconds"]
    return found


def _fixture(api, conn):
    """A key pair protected through the API: ``(checkpoint id, operation
    id, key pair name)``."""
    name = f"bench-apiload-{secrets.token_hex(4)}"
    conn.compute.create_keypair(name=name)
    status, body = api_http.call(api, "POST", "/v1/checkpoints", conn, {
        "name": "bench-apiload", "resources": [{"type": KP, "id": name}]})
    if status != 202:
        conn.compute.delete_keypair(name, ignore_missing=True)
        raise SystemExit(f"api_load: protect refused ({status}): {body}")
    api_http.wait_operation(api, conn, body["operation_id"])
    return body["checkpoint"]["id"], body["operation_id"], name


def _sweep(api, conn, checkpoint_id, keypair):
    status, body = api_http.call(api, "DELETE",
                                 f"/v1/checkpoints/{checkpoint_id}", conn)
    if status == 202:
        api_http.wait_operation(api, conn, body["operation_id"])
    conn.compute.delete_keypair(keypair, ignore_missing=True)


def _report(rows, connections):
    print(f"\n{connections} connections, {os.cpu_count()} CPUs, load "
          f"{os.getloadavg()[0]:.2f} before the last run")
    print(f"{'target':<50} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'max ms':>8} {'errors':>7}")
    for name, found in rows:
        print(f"{name:<50} {found['rps']:8.1f} {found['p50_ms']:8.1f} "
              f"{found['p99_ms']:8.1f} {found['max_ms']:8.1f} "
              f"{found['non_2xx'] + found['socket_errors']:7d}")
    for name, found in rows:
        if name.startswith("API") and "paced" in name:
            met = found["rps"] >= 0.9 * RATE_GOAL and found["p99_ms"] < 100
            print(f"goal (p99 < 100 ms at {RATE_GOAL} req/s), {name}: "
                  f"{'met' if met else 'NOT met'}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--os-cloud", default=os.environ.get("OS_CLOUD"))
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--duration", type=int, default=15,
                        help="seconds of each wrk run")
    parser.add_argument("--rate", type=int, default=RATE_GOAL,
                        help="requests/s of the paced runs")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("api_load: wrk is not installed (apt-get install wrk)",
              file=sys.stderr)
        return 2
    import openstack
    conn = openstack.connect(cloud=args.os_cloud)
    api = api_http.deployed_url(conn)
    if api is None or not api_http.answers(api):
        print("api_load: no protection API in the catalog, or it does not "
              "answer (tools/devcloud api)", file=sys.stderr)
        return 2
    keystone = conn.session.get_endpoint(service_type="identity",
                                         interface="public").rstrip("/")
    token = conn.auth_token
    checkpoint_id, operation_id, keypair = _fixture(api, conn)
    try:
        targets = [
            ("API GET /v1/checkpoints", f"{api}/v1/checkpoints", {}),
            ("API GET /v1/operations/{id}",
             f"{api}/v1/operations/{operation_id}", {}),
            ("anchor: Keystone GET /v3", f"{keystone}", {}),
            ("anchor: Keystone token validation",
             f"{keystone}/auth/tokens", {"X-Subject-Token": token}),
        ]
        rows = []
        for name, url, headers in targets:
            for rate in (None, args.rate):
                label = f"{name}, paced {rate}/s" if rate else name
                rows.append((label, wrk(url, token, args.connections,
                                        args.duration, headers, rate)))
                time.sleep(2)
    finally:
        _sweep(api, conn, checkpoint_id, keypair)
    _report(rows, args.connections)
    return 0


if __name__ == "__main__":
    sys.exit(main())
