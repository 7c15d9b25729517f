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

Which API (``--server``, repeatable; each is measured in turn):

``deployed`` (default)
    the API in the cloud's catalog (devcloud's ``stackvault-api``);
``standalone``
    this checkout's ``stackvault-api`` (one process, the standard
    library's threaded server), started on a free port with a copy of
    devcloud's API configuration (its ``[keystone_authtoken]``: tokens are
    validated by devcloud's Keystone and cached in the process), a bank
    and SQLite catalog of its own holding ``--checkpoints`` (1,000)
    checkpoints of the member's project, so ``GET /v1/checkpoints``
    answers a full page (``[api] default_limit``, 100);
``gunicorn``
    the same, under gunicorn (``pip install 'stackvault[benchmark]'``):
    ``--workers`` (2) processes of ``--threads`` (8) threads,
    ``protection.api.wsgi:application``, what doc/deployment.rst
    recommends.

For its own servers it also drives the floor, a bare WSGI app answering a
fixed JSON body (``benchmarks/bare_wsgi.py``) through the same server,
and prints the CPU the server's processes spent per request (their
``/proc`` times over the run, divided by the requests answered): on a
machine whose CPUs the cloud shares, CPU per request is what bounds the
rate. The load average is printed with every row.

    benchmarks/api_load.py [--os-cloud devcloud] [--duration 15]
        [--server deployed] [--server standalone] [--server gunicorn]
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


def _cpu_seconds(pid):
    """CPU (user + system) of ``pid`` and every process below it."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rpartition(")")[2].split()
            except OSError:
                continue
            parents[int(entry)] = (int(fields[1]),
                                   int(fields[11]) + int(fields[12]))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += parents.get(current, (0, 0))[1]
        todo.extend(p for p, (ppid, _) in parents.items()
                    if ppid == current)
    return total / ticks


class OwnServer:
    """This checkout's API (``standalone`` or ``gunicorn``), or the bare
    floor app through the same server, as a child process on a free port
    with a copy of devcloud's API configuration."""

    def __init__(self, kind, app, tmp, args):
        self.kind, self.app, self.args = kind, app, args
        self.tmp = os.path.join(tmp, f"{kind}-{app}")
        os.makedirs(self.tmp)
        self.port = api_http.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def configure(self, project):
        """The configuration file; ``--checkpoints`` checkpoints of
        ``project`` in its bank, indexed in its catalog."""
        try:
            self.conf = str(api_http.own_api_conf(
                self.tmp, api={"port": self.port, "host": "127.0.0.1"}))
        except api_http.NoDeployedApi:
            raise SystemExit("api_load: devcloud's API is not configured "
                             "(tools/devcloud api): no [keystone_authtoken]"
                             " to copy") from None
        if self.args.checkpoints:
            _fill(self.conf, project, self.args.checkpoints)

    def command(self):
        bindir = os.path.dirname(sys.executable)
        if self.kind == "gunicorn":
            target = "protection.api.wsgi:application" \
                if self.app == "api" else "benchmarks.bare_wsgi:app"
            return [os.path.join(bindir, "gunicorn"), "--chdir", ROOT,
                    "--workers", str(self.args.workers), "--worker-class",
                    "gthread", "--threads", str(self.args.threads),
                    "--bind", f"127.0.0.1:{self.port}", target]
        if self.app == "api":
            return [os.path.join(bindir, "stackvault-api"),
                    "--config-file", self.conf]
        return [sys.executable, os.path.join(ROOT, "benchmarks",
                                             "bare_wsgi.py"),
                str(self.port)]

    def start(self):
        env = dict(os.environ)
        if self.app == "api":
            env["STACKVAULT_CONFIG_FILES"] = self.conf
        self.log = open(os.path.join(self.tmp, "server.log"), "ab")
        self.proc = subprocess.Popen(self.command(), env=env,
                                     stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not api_http.answers(self.url, timeout=1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                with open(os.path.join(self.tmp, "server.log")) as f:
                    raise SystemExit(f"api_load: {self.kind} did not "
                                     f"start:\n{f.read()[-2000:]}")
            time.sleep(0.2)

    def cpu(self):
        return _cpu_seconds(self.proc.pid)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def _fill(conf_file, project, count):
    """``count`` checkpoints of ``project`` in the bank of
    ``conf_file``, and its catalog built from them."""
    from benchmarks import catalog_list
    from protection import bank as bank_mod
    from protection.api import wsgi
    from protection.plugin.registry import PluginRegistry
    from protection.service import ProtectionService

    conf = wsgi.load_conf([conf_file])
    bank = bank_mod.load(conf)
    catalog_list.fill(bank, count, 4, project=project)
    ProtectionService(conf, PluginRegistry([]), bank).rebuild_catalog()


def _drive(rows, label, url, token, args, headers=None, server=None):
    """wrk flat out and paced on ``url``; a row each, with the server's
    CPU per request when it is ours."""
    for rate in (None, args.rate):
        name = f"{label}, paced {rate}/s" if rate else label
        load = os.getloadavg()[0]
        before = server.cpu() if server else None
        found = wrk(url, token, args.connections, args.duration, headers,
                    rate)
        if server:
            found["cpu_ms"] = (server.cpu() - before) * 1000 / max(
                1, found["requests"])
        found["load"] = load
        rows.append((name, found))
        print(f"  {name}: {found['rps']:.1f} req/s, p99 "
              f"{found['p99_ms']:.1f} ms", flush=True)
        time.sleep(2)


def _report(rows, connections):
    print(f"\n{connections} connections, {os.cpu_count()} CPUs; load: the "
          "1-minute load average when the row's run started")
    print(f"{'target':<58} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'max ms':>7} {'err':>4} {'cpu ms/req':>10} {'load':>5}")
    for name, found in rows:
        cpu = f"{found['cpu_ms']:10.2f}" if "cpu_ms" in found else \
            f"{'-':>10}"
        print(f"{name:<58} {found['rps']:7.1f} {found['p50_ms']:7.1f} "
              f"{found['p99_ms']:7.1f} {found['max_ms']:7.1f} "
              f"{found['non_2xx'] + found['socket_errors']:4d} {cpu} "
              f"{found['load']:5.2f}")
    for name, found in rows:
        if "API GET" in name and "paced" in name:
            met = found["rps"] >= 0.9 * RATE_GOAL and found["p99_ms"] < 100
            print(f"goal (p99 < 100 ms at {RATE_GOAL} req/s), {name}: "
                  f"{'met' if met else 'NOT met'}")


def _measure_api(rows, kind, api, conn, token, args, server=None):
    checkpoint_id, operation_id, keypair = _fixture(api, conn)
    try:
        _drive(rows, f"{kind}: API GET /v1/checkpoints",
               f"{api}/v1/checkpoints", token, args, server=server)
        _drive(rows, f"{kind}: API GET /v1/operations/{{id}}",
               f"{api}/v1/operations/{operation_id}", token, args,
               server=server)
    finally:
        _sweep(api, conn, checkpoint_id, keypair)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--os-cloud", default=os.environ.get("OS_CLOUD"))
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--duration", type=int, default=15,
                        help="seconds of each wrk run")
    parser.add_argument("--rate", type=int, default=RATE_GOAL,
                        help="requests/s of the paced runs")
    parser.add_argument("--server", action="append",
                        choices=("deployed", "standalone", "gunicorn"),
                        help="which API to load (repeatable; default: "
                             "deployed)")
    parser.add_argument("--workers", type=int, default=2,
                        help="gunicorn's worker processes")
    parser.add_argument("--threads", type=int, default=8,
                        help="gunicorn's threads per worker")
    parser.add_argument("--checkpoints", type=int, default=1000,
                        help="checkpoints in the catalog of our own API")
    parser.add_argument("--no-anchors", action="store_true",
                        help="skip Keystone's anchors")
    args = parser.parse_args(argv)
    servers = args.server or ["deployed"]
    if shutil.which("wrk") is None:
        print("api_load: wrk is not installed (apt-get install wrk)",
              file=sys.stderr)
        return 2
    if "gunicorn" in servers and not os.path.exists(
            os.path.join(os.path.dirname(sys.executable), "gunicorn")):
        print("api_load: gunicorn is not installed (pip install "
              "'stackvault[benchmark]')", file=sys.stderr)
        return 2
    import openstack
    conn = openstack.connect(cloud=args.os_cloud)
    token = conn.auth_token
    rows = []
    tmp = tempfile.mkdtemp(prefix="api-load-")
    try:
        for kind in servers:
            print(f"{kind}:", flush=True)
            if kind == "deployed":
                api = api_http.deployed_url(conn)
                if api is None or not api_http.answers(api):
                    print("api_load: no protection API in the catalog, or "
                          "it does not answer (tools/devcloud api)",
                          file=sys.stderr)
                    return 2
                _measure_api(rows, kind, api, conn, token, args)
                continue
            for app in ("bare", "api"):
                server = OwnServer(kind, app, tmp, args)
                if app == "api":
                    server.configure(conn.current_project_id)
                server.start()
                try:
                    if app == "api":
                        _measure_api(rows, kind, server.url, conn, token,
                                     args, server)
                    else:
                        _drive(rows, f"{kind}: floor, bare WSGI app",
                               f"{server.url}/", token, args,
                               server=server)
                finally:
                    server.stop()
        if not args.no_anchors:
            keystone = conn.session.get_endpoint(
                service_type="identity", interface="public").rstrip("/")
            print("anchors:", flush=True)
            _drive(rows, "anchor: Keystone GET /v3", keystone, token, args)
            _drive(rows, "anchor: Keystone token validation",
                   f"{keystone}/auth/tokens", token, args,
                   {"X-Subject-Token": token})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _report(rows, args.connections)
    return 0


if __name__ == "__main__":
    sys.exit(main())
