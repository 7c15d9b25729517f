"""``GET /v1/checkpoints?limit=50`` from the catalog, side by side with the
bank scan that listing was before the catalog (issue #22 item 4).

Goal: under 50 ms per page, server-side, with 10,000 checkpoints in the
catalog, and at least 100x faster than a scan of the filesystem bank at
10,000 checkpoints and of devcloud's Swift at 1,000::

    python benchmarks/catalog_list.py [--count 10000] [--swift-count 1000]
        [--repeat 30] [--no-swift] [--swift-cleanup]

The checkpoints are written fast, directly: each is a minimal valid one
(an ``available`` index of one resource, its ``index.sha256`` and an empty
manifest: three objects, written by the checkpoint store's own code, with
no plugin data). The catalog is filled by ``rebuild`` from the filesystem
bank (its time is printed too). A page is timed around the in-process
WSGI app (the API's whole middleware pipeline, with a fake auth filter in
place of keystonemiddleware: a reader of the project): what a server
spends, without the network. The Swift checkpoints go to the container
``stackvault-bench-catalog`` of ``$OS_CLOUD`` (default ``devcloud``) and
are kept for the next run unless ``--swift-cleanup``.
"""

import argparse
import concurrent.futures
import datetime
import os
import statistics
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import webob  # noqa: E402
from oslo_config import cfg  # noqa: E402

from protection import config  # noqa: E402
from protection.api import opts  # noqa: E402
from protection.api import wsgi  # noqa: E402
from protection.bank.filesystem import FileSystemBank  # noqa: E402
from protection.checkpoint import store as cp  # noqa: E402
from protection.model.graph import ResourceGraph  # noqa: E402
from protection.model.resource import Resource  # noqa: E402
from protection.plugin.registry import PluginRegistry  # noqa: E402
from protection.service import ProtectionService  # noqa: E402

PROJECT = "bench-project"
SWIFT_CONTAINER = "stackvault-bench-catalog"
GRAPH = ResourceGraph.build([Resource("OS::Nova::KeyPair", "bench-key",
                                      "bench-key")], lambda _r: [])


def say(text):
    print(text, flush=True)


def write_checkpoint(bank, number, project=PROJECT):
    """One minimal valid ``available`` checkpoint of ``project``;
    created_at steps one second per ten checkpoints, so that equal
    timestamps are common."""
    checkpoint_id = str(uuid.uuid4())
    created = datetime.datetime.fromtimestamp(
        1_700_000_000 + number // 10, datetime.timezone.utc).isoformat()
    index = {"format_version": cp.FORMAT_VERSION, "id": checkpoint_id,
             "project_id": project, "user_id": "bench-user",
             "plan_id": None, "status": cp.AVAILABLE,
             "plan": {"name": f"bench-{number}", "resources": [],
                      "parameters": {}},
             "graph": GRAPH.to_dict(), "resources": {},
             "created_at": created, "updated_at": created}
    checkpoint = cp.Checkpoint(bank, checkpoint_id, index)
    checkpoint.write_manifest()
    checkpoint.save_index()
    return checkpoint_id


def fill(bank, count, workers, project=PROJECT):
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda n: write_checkpoint(bank, n, project),
                      range(count)))
    return time.monotonic() - started


def existing(bank):
    return sum(1 for key in bank.list(cp.PREFIX + "/")
               if key.endswith("/" + cp.INDEX))


def scan(bank):
    """The listing before the catalog: every checkpoint read from the
    bank (``CheckpointStore.list``)."""
    started = time.monotonic()
    found = cp.CheckpointStore(bank).list()
    return time.monotonic() - started, len(found)


class ReaderAuth:
    """In place of keystonemiddleware: every request is a reader of
    :data:`PROJECT` (the identity headers auth_token sets)."""

    def __init__(self, app, _conf):
        self.app = app

    def __call__(self, environ, start_response):
        environ.update({"HTTP_X_IDENTITY_STATUS": "Confirmed",
                        "HTTP_X_PROJECT_ID": PROJECT,
                        "HTTP_X_USER_ID": "bench-user",
                        "HTTP_X_ROLES": "reader"})
        return self.app(environ, start_response)


def api(tmp, bank):
    conf = cfg.ConfigOpts()
    opts.register(conf)
    conf = config.load_config([], conf=conf)
    conf.set_override("connection", f"sqlite:///{tmp}/catalog.db",
                      group="persistence")
    service = ProtectionService(conf, PluginRegistry([]), bank)
    return service, wsgi.make_app(conf, service, connect=None,
                                  auth=ReaderAuth)


def time_page(app, path, repeat):
    """Median and slowest server-side time of ``GET path``, in ms."""
    times = []
    for _ in range(repeat + 1):
        request = webob.Request.blank(path, headers={"X-Auth-Token": "x"})
        started = time.perf_counter()
        response = request.get_response(app)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
        assert len(response.json["checkpoints"]) == 50, response.json
    times = times[1:]                     # the first warms the caches
    return statistics.median(times), max(times), response.json


def swift_bank():
    from protection import cloud
    from protection.bank.swift import SwiftBank

    return SwiftBank(cloud.connect(os.environ.get("OS_CLOUD", "devcloud")),
                     container=SWIFT_CONTAINER)


def swift_part(args):
    bank = swift_bank()
    have = existing(bank)
    if have < args.swift_count:
        seconds = fill(bank, args.swift_count - have, 16)
        say(f"swift: wrote {args.swift_count - have} checkpoints in "
            f"{seconds:.1f} s (container {SWIFT_CONTAINER})")
    seconds, found = scan(bank)
    say(f"swift bank scan: {found} checkpoints in {seconds:.2f} s")
    if args.swift_cleanup:
        for key in bank.list(""):
            bank.delete(key)
    return seconds, found


def report(page_ms, deep_ms, scans):
    say("")
    say(f"{'listing':44s} {'time':>10s} {'/ page':>9s}")
    say(f"{'GET /v1/checkpoints?limit=50 (first page)':44s} "
        f"{page_ms:8.2f} ms {1:8.0f}x")
    say(f"{'GET ...?limit=50&marker=<middle>':44s} {deep_ms:8.2f} ms "
        f"{deep_ms / page_ms:8.1f}x")
    for name, seconds in scans:
        say(f"{name:44s} {seconds:8.2f} s  {seconds * 1000 / page_ms:8.0f}x")
    worst = max(page_ms, deep_ms)
    ratios = [seconds * 1000 / worst for _name, seconds in scans]
    say(f"goal: page < 50 ms ({'met' if worst < 50 else 'NOT met'}), "
        f"scans >= 100x slower ({'met' if min(ratios) >= 100 else 'NOT met'}"
        f": {min(ratios):.0f}x at least)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--swift-count", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--no-swift", action="store_true")
    parser.add_argument("--swift-cleanup", action="store_true")
    args = parser.parse_args()
    say(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="catalog-bench-") as tmp:
        bank = FileSystemBank(os.path.join(tmp, "bank"))
        say(f"filesystem: wrote {args.count} checkpoints in "
            f"{fill(bank, args.count, 4):.1f} s")
        service, app = api(tmp, bank)
        started = time.monotonic()
        counts = service.rebuild_catalog()
        say(f"catalog rebuild from the filesystem bank: {counts['total']} "
            f"rows in {time.monotonic() - started:.2f} s")
        page_ms, slowest, first = time_page(
            app, "/v1/checkpoints?limit=50", args.repeat)
        say(f"first page: median {page_ms:.2f} ms, slowest {slowest:.2f} ms"
            f" of {args.repeat}")
        middle = service.stores.catalog.page(
            limit=args.count // 2)[0][-1]["id"]
        deep_ms, slowest, _ = time_page(
            app, f"/v1/checkpoints?limit=50&marker={middle}", args.repeat)
        say(f"page after the middle: median {deep_ms:.2f} ms, slowest "
            f"{slowest:.2f} ms")
        assert first["next"], "a full catalog has a next page"
        fs_seconds, found = scan(bank)
        say(f"filesystem bank scan: {found} checkpoints in "
            f"{fs_seconds:.2f} s")
        scans = [(f"filesystem bank scan ({found})", fs_seconds)]
    if not args.no_swift:
        seconds, found = swift_part(args)
        scans.append((f"swift bank scan ({found}, devcloud)", seconds))
    report(page_ms, deep_ms, scans)


if __name__ == "__main__":
    main()
