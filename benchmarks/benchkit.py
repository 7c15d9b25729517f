"""What the side-by-side benchmarks share: the application (optionally
with real data in its volumes), the ``stackvault`` CLI run as a user runs
it (its own process, its own bank and database), the checkpoint's volume
records, and the report (every run, the medians, the ratio, the goal).
"""

import argparse
import glob
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tools.cloudkit import api_http  # noqa: E402
from tools.cloudkit import demo_app  # noqa: E402
from tools.cloudkit import volume_bytes  # noqa: E402

GiB = 1024 ** 3
CHUNK = 64 * 1024 * 1024


def load():
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} (1 / 5 min) on " \
           f"{os.cpu_count()} CPUs"


def say(text):
    print(text, flush=True)


def parser(doc, cidr):
    """The options every side-by-side benchmark takes."""
    found = argparse.ArgumentParser(description=doc.split("\n")[0])
    found.add_argument("--repeat", type=int, default=3)
    found.add_argument("--data-gib", type=int, default=0,
                       help="fill each volume with this many GiB of random "
                            "bytes (the volumes are this size)")
    found.add_argument("--cidr", default=cidr)
    found.add_argument("--os-cloud", default=os.environ.get("OS_CLOUD"))
    return found


def start(args, kind):
    """``(conn, tag, workdir, cli)`` of one benchmark run."""
    import openstack
    conn = openstack.connect(cloud=args.os_cloud)
    workdir = tempfile.mkdtemp(prefix=f"sv-bench-{kind}-")
    return conn, uuid.uuid4().hex[:6], workdir, Cli(workdir, args.os_cloud)


def application(cleanup, conn, args, workdir, prefix):
    """The application of one run; ``cleanup`` (an ExitStack) deletes it
    and the run's directory at the end."""
    import shutil
    cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
    app = create_application(conn, prefix, args.cidr, args.data_gib)
    cleanup.callback(demo_app.delete_application, conn, app)
    return app


def create_application(conn, prefix, cidr, data_gib):
    """The demo application; with ``data_gib`` its two volumes are that
    size and filled with random bytes (written through devcloud's volume
    files), so that moving data, not API latency, dominates."""
    fixed_ip = cidr.rsplit(".", 1)[0] + ".10"
    app = demo_app.create_application(conn, prefix=prefix, cidr=cidr,
                                      fixed_ip=fixed_ip, say=say,
                                      volume_gib=max(1, data_gib))
    if data_gib:
        for volume_id in app["volumes"]:
            for offset in range(0, data_gib * GiB, CHUNK):
                volume_bytes.write_volume(volume_id,
                                          secrets.token_bytes(CHUNK), offset)
            say(f"  volume {volume_id}: {data_gib} GiB of random bytes")
    return app


class Cli:
    """``stackvault`` in its own process, with a bank and database of its
    own (``XDG_DATA_HOME``), as an operator runs it."""

    def __init__(self, workdir, cloud):
        self.workdir = workdir
        self.env = dict(os.environ, XDG_DATA_HOME=workdir)
        if cloud:
            self.env["OS_CLOUD"] = cloud
        script = os.path.join(os.path.dirname(sys.executable), "stackvault")
        self.command = [script] if os.path.exists(script) else [
            sys.executable, "-m", "protection.cli.main"]

    def run(self, *args):
        """``(seconds, the -f json result)``; raises when it fails."""
        started = time.perf_counter()
        done = subprocess.run([*self.command, *args, "-f", "json"],
                              env=self.env, capture_output=True, text=True,
                              check=False)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"stackvault {' '.join(args)} failed "
                               f"({done.returncode}): {done.stderr.strip()}"
                               f"\n{done.stdout.strip()}")
        return seconds, json.loads(done.stdout)

    def volume_records(self, checkpoint_id):
        """The saved metadata of the checkpoint's volumes (backup id,
        size...), read from the filesystem bank."""
        pattern = os.path.join(self.workdir, "stackvault", "bank", "**",
                               checkpoint_id, "**", "metadata.json")
        records = []
        for path in sorted(glob.glob(pattern, recursive=True)):
            with open(path) as f:
                saved = json.load(f)
            if "backup_id" in saved:
                records.append(saved)
        return records


def api_calls(result):
    """``"N API calls (compute a, network b ...)"`` of a ``-f json``
    result."""
    calls = result.get("api_calls") or {}
    by_service = ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))
    return f"{sum(calls.values())} API calls ({by_service})"


class Report:
    """Seconds per side; prints each run and the medians."""

    def __init__(self, sides, goal):
        self.sides = sides          # (ours, theirs)
        self.goal = goal
        self.seconds = {side: [] for side in sides}

    def record(self, side, seconds, extra=""):
        self.seconds[side].append(seconds)
        say(f"  run {len(self.seconds[side])}  {side:<22} "
            f"{seconds:7.2f} s  {extra}")

    def order(self, round_index):
        """Alternate which side goes first."""
        return self.sides if round_index % 2 == 0 else self.sides[::-1]

    def print(self):
        ours, theirs = self.sides
        mine = statistics.median(self.seconds[ours])
        other = statistics.median(self.seconds[theirs])
        ratio = mine / other
        say(f"\nmedian of {len(self.seconds[ours])}: {ours} {mine:.2f} s, "
            f"{theirs} {other:.2f} s, ratio {ratio:.2f} (goal <= "
            f"{self.goal}: {'met' if ratio <= self.goal else 'MISSED'}); "
            f"{load()}")
        return ratio


class OwnApi:
    """``stackvault-api`` in a process of the benchmark's own, so that a
    branch's code is measured instead of the API devcloud deploys: that
    API's ``[keystone_authtoken]`` (its service user), a free port, and a
    bank and SQLite database under ``workdir/api``
    (``api_http.own_api_conf``). ``exe``: the
    ``stackvault-api`` to run (another checkout's, to compare); default
    this interpreter's."""

    def __init__(self, workdir, exe=None, log=None):
        own = os.path.join(workdir, "api")
        port = api_http.free_port()
        self.conf = str(api_http.own_api_conf(own, api={"port": port}))
        self.url = f"http://127.0.0.1:{port}"
        self.log = log or os.path.join(own, "api.log")
        self.exe = exe or os.path.join(os.path.dirname(sys.executable),
                                       "stackvault-api")
        self.proc = None

    def start(self, timeout=60):
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([self.exe, "--config-file",
                                          self.conf],
                                         stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not api_http.answers(self.url, timeout=1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.exe} did not start; log "
                                   f"{self.log}")
            time.sleep(0.2)
        return self.url

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
