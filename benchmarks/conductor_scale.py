"""N demo-sized restores at once: embedded, one conductor, two conductors.

    eval "$(tools/devcloud env)"      # also names Redis and the database
    python benchmarks/conductor_scale.py --n 1 2 4 8

Builds the demo-sized application (tools/cloudkit/demo_app.py, under its
own name prefix and CIDR), protects it max(N) times (Cinder restores one
backup once at a time, so each concurrent restore has a checkpoint of its
own), then for each N and each mode starts N restores, one per
checkpoint, at the same time with the real ``stackvault`` CLI and waits
for all of them:

embedded         N ``stackvault restore`` processes, each running its own
                 operation (the default, no jobboard)
1 conductor      N ``stackvault restore`` processes with a jobboard: each
                 posts its job and follows it to the end (as an operator
                 sees it), run by one ``stackvault conductor``
                 (``max_jobs`` = N)
2 conductors     the same, two conductors (``max_jobs`` = N each)

It prints the wall time from the first start to the last end, that
divided by N and, for the conductor modes, the ratio to the embedded run
of the same N (its anchor, measured just before). The conductors are
started (and connected) before the clock starts, as they are in a
deployment. Every restored copy is deleted before the next run, and the
application, its checkpoint and the temporary directory at the end, also
when a run fails. On a 2-core devcloud the cloud (Nova, Cinder, Glance
on the same 2 cores) is the bottleneck, not stackvault: the figures say
how the modes compare there, not how conductors scale on a real cloud.
Figures measured on devcloud are in doc/deployment.rst ("Scale on
devcloud").
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
sys.path.insert(0, ROOT)

import openstack  # noqa: E402

from tools.cloudkit import demo_app  # noqa: E402
from tools.cloudkit import teardown  # noqa: E402

WAIT = 1800
MODES = (("embedded", 0), ("1 conductor", 1), ("2 conductors", 2))


class Cli:
    """The stackvault CLI and conductors on one config."""

    def __init__(self, workdir, prefix, distributed):
        self.workdir = workdir
        self.conf = os.path.join(workdir, f"{distributed}.conf")
        text = f"[filesystem_bank]\npath = {workdir}/bank\n"
        if distributed:
            text += (f"[persistence]\nconnection = "
                     f"{os.environ['STACKVAULT_PERSISTENCE']}\n"
                     f"[jobboard]\naddress = "
                     f"{os.environ['STACKVAULT_JOBBOARD']}\n"
                     f"namespace = {prefix}\n")
        with open(self.conf, "w") as f:
            f.write(text)
        self.env = dict(os.environ, XDG_DATA_HOME=f"{workdir}/data")

    def start(self, *args, conductor=False):
        module = "protection.cli.conductor" if conductor else \
            "protection.cli.main"
        extra = [] if conductor else ["-f", "json"]
        return subprocess.Popen(
            [sys.executable, "-m", module, "--config-file", self.conf,
             *args, *extra], env=self.env, cwd=ROOT, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def ok(self, *args):
        proc = self.start(*args)
        out, err = proc.communicate(timeout=WAIT)
        if proc.returncode != 0:
            raise SystemExit(f"stackvault {' '.join(args)}: {err.strip()}")
        return json.loads(out)


def run_mode(cli, checkpoint_ids, n, conductors):
    """Wall seconds of N restores at once, and their results."""
    if conductors:
        with open(cli.conf, "a") as f:
            f.write(f"[conductor]\nmax_jobs = {n}\nwait_timeout = 0.5\n")
        workers = [cli.start("--log-file", f"{cli.workdir}/c{i}.log",
                             conductor=True) for i in range(conductors)]
        time.sleep(5)           # let them connect before the clock starts
    started = time.monotonic()
    try:
        procs = [cli.start("restore", checkpoint_id)
                 for checkpoint_id in checkpoint_ids[:n]]
        outputs = [json.loads(p.communicate(timeout=WAIT)[0])
                   for p in procs]
        return time.monotonic() - started, outputs
    finally:
        if conductors:
            for worker in workers:
                worker.terminate()
                worker.wait(timeout=600)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1, 2, 4, 8])
    args = parser.parse_args(argv)
    conn = openstack.connect()
    prefix = f"bench-conductor-{secrets.token_hex(3)}"
    workdir = tempfile.mkdtemp(prefix="conductor-scale-")
    embedded = Cli(workdir, prefix, False)
    distributed = Cli(workdir, prefix, True)
    third = secrets.randbelow(200) + 20
    app = demo_app.create_application(
        conn, prefix, f"10.252.{third}.0/24", f"10.252.{third}.10",
        say=lambda _: None)
    figures, checkpoint_ids = [], []
    try:
        # One checkpoint per concurrent restore: Cinder restores a backup
        # once at a time (a second restore of the same backup running at
        # the same time is canceled and its volume ends in 'error').
        for _ in range(max(args.n)):
            checkpoint_ids.append(embedded.ok(
                "protect", "--name", prefix,
                f"{demo_app.SERVER}={app['server'].id}")["checkpoint_id"])
        for n in args.n:
            for label, conductors in MODES:
                cli = distributed if conductors else embedded
                seconds, results = run_mode(cli, checkpoint_ids, n,
                                            conductors)
                for result in results:
                    teardown.delete_restored(conn, result["restored"])
                bad = [f"{r['status']}: {r.get('failures')}"
                       for r in results if r["status"] != "success"]
                figures.append((n, label, seconds, bad))
                if not conductors:
                    embedded_seconds = seconds      # MODES starts with it
                ratio = "" if not conductors else \
                    f"  {seconds / embedded_seconds:5.2f} x embedded"
                print(f"N={n:<2} {label:<13} {seconds:7.1f} s  "
                      f"{seconds / n:6.1f} s/restore{ratio}"
                      + (f"  FAILED: {bad}" if bad else ""), flush=True)
    finally:
        for checkpoint_id in checkpoint_ids:
            embedded.start("checkpoint", "delete", "--force",
                           checkpoint_id).wait(timeout=WAIT)
        demo_app.delete_application(conn, app)
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if any(bad for *_, bad in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
