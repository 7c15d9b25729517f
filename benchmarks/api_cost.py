"""Where a request of the protection API spends its CPU, in-process and
without the network (issue #22 item 7: what decides p99 at 200 req/s on
a 2-CPU machine is CPU time per request).

It builds the real WSGI application (``protection.api.wsgi.make_app``:
oslo.middleware, keystonemiddleware, oslo.policy with the defaults in
code, the handlers) over a SQLite catalog of ``--count`` checkpoints (10,000)
and one operation with a persisted flow of ``--resources`` resources, and
calls it directly, one request at a time, ``--requests`` times per route.
For each route it prints the CPU time per request (``time.thread_time``:
the requests run in this thread; the median request) in total and per
middleware layer (each layer's own time, the mean: its time minus the
layers inside it), beside two
anchors of the same run: a bare WSGI app answering a fixed JSON body,
called directly, and the same route's wall time.

Authentication, with ``--auth``:

``keystone`` (default when ``OS_CLOUD`` names a cloud)
    the real keystonemiddleware ``auth_token``, configured as devcloud's
    API is (its ``[keystone_authtoken]``: ``tools/devcloud api``), with
    its in-process token cache; the first request validates the caller's
    token with Keystone, every timed one finds it in the cache (what a
    token costs the API from its second request on). The catalog's rows
    belong to the token's project.
``fake``
    *labelled as such in the output*: a filter that sets the identity
    headers auth_token would set (a reader of the project), so no
    Keystone is needed and keystonemiddleware's own cost is absent.

With ``wrk`` installed (``--server``, default on), each route is then
also served by the standalone server's class (``protection.api.server``,
in this process, on a free port) under ``wrk`` (``--connections`` 10,
``--duration`` 5 s): the CPU this process spent (``time.process_time``:
wrk is another process) divided by the requests answered, which adds
what the server and the sockets cost per request; the bare app through
the same server is the anchor.

``--profile ROUTE`` prints cProfile's top functions (own time) of that
route (``list``, ``list50``, ``operation``, ``root``).

    benchmarks/api_cost.py [--auth keystone|fake] [--count 10000]
        [--requests 500] [--no-server] [--profile list]

Figures, not asserts: nothing here fails when a figure is high.
"""

import argparse
import cProfile
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import webob  # noqa: E402

from benchmarks import catalog_list  # noqa: E402
from benchmarks.bare_wsgi import app as bare_app  # noqa: E402
from protection.api import server  # noqa: E402
from protection.api import wsgi  # noqa: E402
from protection.bank.filesystem import FileSystemBank  # noqa: E402
from protection.plugin.registry import PluginRegistry  # noqa: E402
from protection.service import ProtectionService  # noqa: E402
from tools.cloudkit import api_http  # noqa: E402

# The attribute each layer keeps the next one in (SkipAuthForRoot: the
# authenticated path, which every route but / takes).
INNER = ("auth", "application", "_app", "app")


def say(text=""):
    print(text, flush=True)


class FakeAuth:
    """``--auth fake``: the identity headers auth_token sets, for a
    reader of ``project`` (no token is checked)."""

    project = "bench-project"

    def __init__(self, app, _conf):
        self.app = app

    def __call__(self, environ, start_response):
        environ.update({"HTTP_X_IDENTITY_STATUS": "Confirmed",
                        "HTTP_X_PROJECT_ID": self.project,
                        "HTTP_X_USER_ID": "bench-user",
                        "HTTP_X_ROLES": "reader"})
        return self.app(environ, start_response)


class Probe:
    """Counts the CPU time (this thread's) spent inside a WSGI app."""

    def __init__(self, name, app):
        self.name, self.app = name, app
        self.cpu = 0.0

    def __call__(self, environ, start_response):
        started = time.thread_time()
        try:
            result = self.app(environ, start_response)
            try:
                return [b"".join(result)]
            finally:
                getattr(result, "close", lambda: None)()
        finally:
            self.cpu += time.thread_time() - started


def instrument(top):
    """Probes between the layers of the pipeline: ``[probe, ...]``,
    outermost first (each probe measures its layer and all inside)."""
    probes = [Probe(type(top).__name__, top)]
    layer = top
    while True:
        attr = next((a for a in INNER if callable(getattr(layer, a, None))),
                    None)
        if attr is None:
            return probes
        inner = getattr(layer, attr)
        probe = Probe(type(inner).__name__, inner)
        setattr(layer, attr, probe)
        probes.append(probe)
        layer = inner


def deployed_conf(tmp):
    """devcloud's API's configuration, with this run's bank and
    database (``api_http.own_api_conf``)."""
    try:
        return [str(api_http.own_api_conf(tmp))]
    except api_http.NoDeployedApi:
        raise SystemExit("api_cost: devcloud's API is not configured "
                         "(tools/devcloud api), or OS_CLIENT_CONFIG_FILE "
                         "is unset: use --auth fake") from None


def build(tmp, args):
    """``(app, service, token, project)``."""
    if args.auth == "keystone":
        import openstack

        conn = openstack.connect(cloud=args.os_cloud)
        token, project = conn.auth_token, conn.current_project_id
        files, auth = deployed_conf(tmp), wsgi.keystone_auth
    else:
        token, project = "fake-token", FakeAuth.project
        files, auth = [], FakeAuth
    conf = wsgi.load_conf(files)
    conf.set_override("connection", f"sqlite:///{tmp}/api.db",
                      group="persistence")
    bank = FileSystemBank(os.path.join(tmp, "bank"))
    service = ProtectionService(conf, PluginRegistry([]), bank)
    app = wsgi.make_app(conf, service, connect=None, auth=auth)
    return app, service, bank, token, project


def fill(service, bank, project, args):
    started = time.monotonic()
    catalog_list.fill(bank, args.count, 4, project=project)
    service.rebuild_catalog()
    say(f"catalog: {args.count} checkpoints of project {project} written "
        f"and indexed in {time.monotonic() - started:.1f} s")
    return operation(service, project, args.resources)


def operation(service, project, resources):
    """A protect of ``resources`` key pairs whose persisted flow has
    finished every step (what ``GET /v1/operations/{id}`` reads)."""
    from taskflow import states
    from taskflow.persistence import models

    store = service.stores.operations
    op = store.create("protect", None, {}, project, "bench-user")
    _book, detail = service.stores.flows.create(op.id, {})
    for number in range(resources):
        for step in ("started", "snapshot", "save", "finished"):
            atom = models.TaskDetail(
                f"OS::Nova::KeyPair#key-{number}/{step}", str(uuid.uuid4()))
            atom.state = states.SUCCESS
            atom.results = {"id": f"key-{number}"}
            detail.add(atom)
    connection = service.stores.flows.backend.get_connection()
    connection.update_flow_details(detail)
    return op.id


def request(path, token):
    return webob.Request.blank(path, headers={"X-Auth-Token": token})


def run_inprocess(app, path, token, count, profile=None):
    """``(cpu ms, wall ms per request, {layer: own cpu ms})``: the
    median request's CPU (robust against the other processes of a
    loaded machine), the mean wall time, each layer's mean."""
    response = request(path, token).get_response(app)     # warms caches
    assert response.status_code == 200, (path, response.status,
                                         response.text[:300])
    probes = instrument(app)
    cpu = []
    wall_started = time.perf_counter()
    if profile is not None:
        profile.enable()
    for _ in range(count):
        started = time.thread_time()
        response = request(path, token).get_response(probes[0])
        cpu.append(time.thread_time() - started)
    if profile is not None:
        profile.disable()
    wall = (time.perf_counter() - wall_started) / count
    assert response.status_code == 200, response.text[:300]
    uninstrument(app)
    layers = {}
    for outer, inner in zip(probes, probes[1:] + [None]):
        own = outer.cpu - (inner.cpu if inner else 0.0)
        layers[outer.name] = own * 1000 / count
    return statistics.median(cpu) * 1000, wall * 1000, layers


def uninstrument(top):
    layer = top
    while True:
        attr = next((a for a in INNER if callable(getattr(layer, a, None))),
                    None)
        if attr is None:
            return
        inner = getattr(layer, attr)
        if isinstance(inner, Probe):
            setattr(layer, attr, inner.app)
            inner = inner.app
        layer = inner


def run_served(app, path, token, args):
    """``(cpu ms per request, req/s)`` of ``app`` behind the standalone
    server's class under wrk: this process's CPU (the server's; wrk is
    another process) over the requests wrk counted."""
    httpd = server.make_server(None, app, "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}{path}"
        with tempfile.NamedTemporaryFile("w", suffix=".lua",
                                         delete=False) as script:
            script.write(f'wrk.headers["X-Auth-Token"] = "{token}"\n')
        os.chmod(script.name, 0o600)
        cpu_started = time.process_time()
        done = subprocess.run(
            ["wrk", "-t", "1", "-c", str(args.connections), "-d",
             f"{args.duration}s", "-s", script.name, url],
            capture_output=True, text=True, check=True)
        cpu = time.process_time() - cpu_started
        os.unlink(script.name)
    finally:
        httpd.shutdown()
        httpd.server_close()
    requests = _wrk_requests(done.stdout)
    return cpu * 1000 / requests, requests / args.duration


def _wrk_requests(output):
    """The requests wrk counted; raises when some were not 2xx."""
    bad = [line for line in output.splitlines()
           if "Non-2xx" in line or "Socket errors" in line]
    if bad:
        raise RuntimeError(f"wrk: {'; '.join(bad)}")
    for line in output.splitlines():
        if " requests in " in line:
            return int(line.split()[0])
    raise RuntimeError(f"wrk printed no count:\n{output}")


def routes(operation_id):
    return {
        "root": "/",
        "list": "/v1/checkpoints",
        "list50": "/v1/checkpoints?limit=50",
        "operation": f"/v1/operations/{operation_id}",
    }


def label(name, path):
    return "GET /v1/operations/{id}" if name == "operation" else \
        f"GET {path}"


def report_layers(rows):
    names = []
    for _route, _cpu, _wall, layers in rows:
        names.extend(n for n in layers if n not in names)
    say(f"\nCPU ms per request, in-process (one thread, "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}):")
    say(f"{'route':<34} {'cpu ms':>7} {'wall ms':>8}   own CPU ms of "
        "each layer (mean), outermost first")
    for route, cpu, wall, layers in rows:
        say(f"{route:<34} {cpu:7.3f} {wall:8.3f}")
        for name in names:
            if name in layers:
                say(f"{'':<36}{layers[name]:7.3f}  {name}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--auth", choices=("keystone", "fake"),
                        default="keystone" if os.environ.get("OS_CLOUD")
                        else "fake")
    parser.add_argument("--os-cloud", default=os.environ.get("OS_CLOUD"))
    parser.add_argument("--count", type=int, default=10000,
                        help="checkpoints in the catalog")
    parser.add_argument("--resources", type=int, default=8,
                        help="resources of the operation shown")
    parser.add_argument("--requests", type=int, default=500,
                        help="timed requests per route, in-process")
    parser.add_argument("--no-server", action="store_true")
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--profile", choices=("root", "list", "list50",
                                              "operation"))
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    say(f"auth: {args.auth}" + (
        " (FAKE: identity headers set by a filter, keystonemiddleware "
        "absent)" if args.auth == "fake" else
        " (keystonemiddleware, in-process token cache, warmed by the "
        "first request)"))
    say(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    tmp = tempfile.mkdtemp(prefix="api-cost-")
    try:
        app, service, bank, token, project = build(tmp, args)
        operation_id = fill(service, bank, project, args)
        paths = routes(operation_id)
        rows = []
        profile = None
        cpu, wall, _ = run_inprocess(bare_app, "/", token, args.requests)
        rows.append(("anchor: bare WSGI app", cpu, wall, {}))
        for name, path in paths.items():
            profiled = cProfile.Profile() if name == args.profile else None
            cpu, wall, layers = run_inprocess(app, path, token,
                                              args.requests, profiled)
            rows.append((label(name, path), cpu, wall, layers))
            if profiled is not None:
                profile = profiled
        report_layers(rows)
        if profile is not None:
            say(f"\ncProfile of {args.profile}, {args.requests} requests "
                "(own time):")
            pstats.Stats(profile, stream=sys.stdout).sort_stats(
                "tottime").print_stats(args.top)
        if not args.no_server and shutil.which("wrk"):
            served(app, paths, token, args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def served(app, paths, token, args):
    import logging

    logging.basicConfig(level=logging.INFO, filename=os.devnull)
    say(f"\nthrough the standalone server's class (wsgiref, a thread per "
        f"connection), wrk -c {args.connections} -d {args.duration}s:")
    say(f"{'target':<34} {'cpu ms/req':>10} {'req/s':>8}   load")
    for name, target, path in [("anchor: bare WSGI app", bare_app, "/")] + [
            (label(n, p), app, p) for n, p in paths.items()]:
        cpu, rate = run_served(target, path, token, args)
        say(f"{name:<34} {cpu:10.3f} {rate:8.1f}   "
            f"{os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    sys.exit(main())
