"""What durable operations cost: the demo's protect and restore with the
persisted TaskFlow flow against the same operations on the in-memory
engine, in one process.

    eval "$(tools/devcloud env)"
    python benchmarks/durability.py --repeat 3

Builds the demo-sized application (tools/cloudkit/demo_app.py: a server on
a fixed IP with two volumes, its image, network, router and security
group; under its own name prefix and CIDR), then, with one
``ProtectionService`` (its filesystem bank and its SQLite persistence
database in a temporary directory, ``XDG_DATA_HOME`` pointing there):

protect    ``--repeat`` rounds of a protect of the server with persistence
           (the normal path) and one on the in-memory engine
           (``service.runner.persistent = False``; the operations row and
           its journal are kept either way, only the flow's atom states are
           not saved); every checkpoint but the last is deleted at once;
restore    the application is deleted, then ``--repeat`` rounds of a
           restore of the last checkpoint in each mode; each restored copy
           is deleted (tools/cloudkit/teardown.py) before the next restore.

Within a round the two modes alternate which goes first, so that a drift
of the shared machine's load weighs on both. It prints every run, the
medians of wall time and of this process's CPU time (user + system, all
threads: what persistence adds is work in this process, and CPU time is
less disturbed by other users of a shared machine than wall time), the
ratio persisted / in-memory against the goal (<= 1.05), the
bytes each persisted operation holds in the database (its flow's atom
details, ``FlowStore.size``, and its operations row) and the size of the
SQLite file and of its write-ahead log, and the load average before and
after.

Everything the run creates (application, restored copies, checkpoints,
the temporary directory) is deleted at the end, also when a run fails;
only an application whose creation failed half-way is left (its names
start with ``bench-durability-``).
Figures measured on devcloud are in doc/operations.rst ("Cost of durability").
"""

import argparse
import contextlib
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import openstack  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from oslo_config import cfg  # noqa: E402

from protection import config  # noqa: E402
from protection.operations import store as ops  # noqa: E402
from protection.bank.filesystem import FileSystemBank  # noqa: E402
from protection.plugin.registry import PluginRegistry  # noqa: E402
from protection.service import ProtectionService  # noqa: E402
from tools.cloudkit import demo_app  # noqa: E402
from tools.cloudkit import teardown  # noqa: E402

GOAL = 1.05
PERSISTED, IN_MEMORY = "persisted", "in-memory"


def load():
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} (1 / 5 min) on " \
           f"{os.cpu_count()} CPUs"


def make_service(workdir):
    os.environ["XDG_DATA_HOME"] = os.path.join(workdir, "data")
    conf = config.load_config([], conf=cfg.ConfigOpts())
    return ProtectionService(conf, PluginRegistry.load(conf),
                             FileSystemBank(os.path.join(workdir, "bank")))


def row_bytes(service, operation_id):
    """Bytes of the operation's row (its text and number columns)."""
    engine = sa.create_engine(config.persistence_url(service.conf))
    try:
        with engine.connect() as conn:
            row = conn.execute(sa.select(ops.TABLE).where(
                ops.TABLE.c.id == operation_id)).one()
    finally:
        engine.dispose()
    return sum(len(str(value)) for value in row if value is not None)


def sqlite_bytes(service):
    """``(database file, its write-ahead log)`` in bytes."""
    path = config.persistence_url(service.conf)[len("sqlite:///"):]
    return tuple(os.path.getsize(p) if os.path.exists(p) else 0
                 for p in (path, path + "-wal"))


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)   # all threads
    return usage.ru_utime + usage.ru_stime


def timed(service, mode, call):
    """``call()`` with the runner in ``mode``; (seconds, this process's
    CPU seconds, result)."""
    service.runner.persistent = mode == PERSISTED
    try:
        started, cpu = time.perf_counter(), cpu_seconds()
        result = call()
        return time.perf_counter() - started, cpu_seconds() - cpu, result
    finally:
        service.runner.persistent = True


def modes_for(round_index):
    return (PERSISTED, IN_MEMORY) if round_index % 2 == 0 else \
        (IN_MEMORY, PERSISTED)


class Runs:
    """Seconds per (phase, mode); bytes per persisted operation."""

    def __init__(self, service):
        self.service = service
        self.seconds = {}
        self.sizes = {}

    def record(self, phase, mode, seconds, operation_id):
        """``seconds``: (wall, CPU) of one operation."""
        self.seconds.setdefault((phase, mode), []).append(seconds)
        flow = "-"
        if mode == PERSISTED:
            flow = self.service.stores.flows.size(operation_id)
            row = row_bytes(self.service, operation_id)
            self.sizes.setdefault(phase, []).append((flow, row))
        print(f"  {phase:<8} {mode:<10} {seconds[0]:7.2f} s  cpu "
              f"{seconds[1]:5.2f} s   flow {flow} B, sqlite file / WAL "
              f"{'{} / {} B'.format(*sqlite_bytes(self.service))}",
              flush=True)

    def report(self, repeat):
        print(f"\nmedian of {repeat}; ratio = persisted / in-memory "
              f"(goal <= {GOAL}); {load()}")
        for phase in ("protect", "restore"):
            (wall, cpu), (wall_mem, cpu_mem) = (
                [statistics.median(s[i] for s in self.seconds[phase, mode])
                 for i in (0, 1)] for mode in (PERSISTED, IN_MEMORY))
            ratio = wall / wall_mem
            print(f"  {phase:<8} persisted {wall:7.2f} s   in-memory "
                  f"{wall_mem:7.2f} s   ratio {ratio:5.3f}  "
                  f"{'meets' if ratio <= GOAL else 'MISSES'} the goal; "
                  f"cpu {cpu:5.2f} s vs {cpu_mem:5.2f} s: persistence adds "
                  f"{(cpu - cpu_mem) / wall_mem:.1%} of the in-memory time")
        for phase, sizes in self.sizes.items():
            flow = statistics.median(f for f, _ in sizes)
            row = statistics.median(r for _, r in sizes)
            print(f"  {phase:<8} per persisted operation: flow details "
                  f"{flow:.0f} B, operations row {row:.0f} B")
        print("  sqlite file / WAL {} / {} B after all operations".format(
            *sqlite_bytes(self.service)))


def protect_rounds(service, conn, server_id, repeat, runs, cleanup):
    """Protect rounds; returns the last checkpoint (the others deleted)."""
    last = None
    for n in range(repeat):
        for mode in modes_for(n):
            if last is not None:
                service.delete(last, conn)
            *seconds, result = timed(service, mode, lambda: service.protect(
                conn, "bench-durability", [(demo_app.SERVER, server_id)]))
            last = result.checkpoint_id
            runs.record("protect", mode, seconds, result.operation_id)
    cleanup.callback(lambda: service.delete(last, conn))
    return last


def restore_rounds(service, conn, checkpoint_id, repeat, runs):
    for n in range(repeat):
        for mode in modes_for(n):
            *seconds, result = timed(service, mode, lambda: service.restore(
                checkpoint_id, conn))
            try:
                runs.record("restore", mode, seconds, result.operation_id)
            finally:
                teardown.delete_restored(conn, result.restored)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds per mode and phase (default 3); the "
                             "medians are compared")
    parser.add_argument("--cidr", default="10.250.7.0/24",
                        help="the application's subnet (default "
                             "10.250.7.0/24, apart from the demo's)")
    parser.add_argument("--os-cloud", default=os.environ.get("OS_CLOUD"))
    args = parser.parse_args(argv)
    conn = openstack.connect(cloud=args.os_cloud)
    tag = uuid.uuid4().hex[:6]
    workdir = tempfile.mkdtemp(prefix="sv-durability-")
    service = make_service(workdir)
    runs = Runs(service)
    print(f"demo application, {args.repeat} round(s); {load()}", flush=True)
    # Undone last first, each also when an earlier one fails.
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        fixed_ip = args.cidr.rsplit(".", 1)[0] + ".10"
        app = demo_app.create_application(
            conn, prefix=f"bench-durability-{tag}", cidr=args.cidr,
            fixed_ip=fixed_ip, say=lambda text: print(text, flush=True))
        cleanup.callback(demo_app.delete_application, conn, app)
        checkpoint_id = protect_rounds(service, conn, app["server"].id,
                                       args.repeat, runs, cleanup)
        demo_app.delete_application(conn, app)
        restore_rounds(service, conn, checkpoint_id, args.repeat, runs)
        runs.report(args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
