"""Fencing under a real database outage: devcloud's MariaDB, reached by
one process through a fault-injecting TCP proxy (tests/fakes/tcp_proxy).

Process A runs a restore with its persistence going through the proxy;
half way, the proxy cuts A off (``blackhole``: a network partition,
nothing answers and nothing is reset; or ``refuse``: every connection
reset) for longer than ``owner_timeout``. A must stop by itself at its
next task boundary, within a bound (it cannot prove it still owns the
operation), and never write its end; process B, on another host name
and connected directly, takes the operation over once A's heartbeat is
older than ``owner_timeout`` and finishes it. Then the proxy heals.
Exactly one run result, every original restored exactly once, the
operation ``succeeded`` at B's generation.

What is real here is the database: the MariaDB server, its connections,
pymysql's timeouts, the compare-and-swap on its rows, TaskFlow's
persistence on it. The cloud is the JSON-file fake of
tests/fakes/file_cloud.py (every create, by any process, appended to a
log), so no cloud object is made. The test's own database
(``stackvault_outage_<random>``) is created with devcloud's MariaDB root
account (its unix socket) and dropped at the end.
"""

import collections
import json
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.fakes import fake_cloud
from tests.fakes import file_cloud
from tests.fakes import tcp_proxy
from tests.fakes.paths import ROOT

ORIGINALS = {"img", "net", "vol-web", "vol-db", "web", "db"}
OWNER_TIMEOUT = 4.0     # [persistence] owner_timeout: the fence's bound is 2
DB_TIMEOUT = 1.0        # [persistence] timeout of both processes
# A's fence is asked before every write to its flow: the first one after
# the cut fails within 2 x DB_TIMEOUT (the pool's ping, then a new
# connection) and stops the run there. When that write comes depends on
# the tasks in flight at the cut: each of their own statements (the
# journal) also takes 2 x DB_TIMEOUT to fail first. Its process then
# tries to release the operation and exits. Generous bounds: these are
# figures (printed), the test's point is one run and no duplicate.
EXIT_BOUND = 3 * OWNER_TIMEOUT
ROUNDS = {tcp_proxy.BLACKHOLE: 3, tcp_proxy.REFUSE: 2}
FIGURES = collections.defaultdict(list)   # mode -> [(tripped, exited)]
TRIPPED = re.compile(r"^(\d+\.\d+) \S+: operation \S+: stopping at the "
                     r"next task boundary: (.*)$", re.M)


def _devcloud_cnf():
    home = os.environ.get("DEVCLOUD_HOME") or os.path.dirname(
        os.environ.get("OS_CLIENT_CONFIG_FILE", ""))
    return Path(home or ".") / "etc" / "mysql" / "my.cnf"


def _root_sql(statement):
    subprocess.run(["mariadb", f"--defaults-file={_devcloud_cnf()}",
                    "-uroot", "-e", statement], check=True,
                   capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def database():
    """``(URL, host, port)`` of a database of this module's own on
    devcloud's MariaDB, for devcloud's user; dropped afterwards."""
    url = os.environ.get("STACKVAULT_PERSISTENCE", "")
    if not url.startswith("mysql") or not _devcloud_cnf().is_file():
        pytest.skip("needs devcloud's MariaDB: eval \"$(tools/devcloud "
                    "env)\"")
    parsed = sa.engine.make_url(url)
    name = f"stackvault_outage_{secrets.token_hex(4)}"
    _root_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4; GRANT ALL "
              f"PRIVILEGES ON {name}.* TO '{parsed.username}'@"
              f"'{parsed.host}'")
    try:
        yield parsed.set(database=name)
    finally:
        _root_sql(f"DROP DATABASE IF EXISTS {name}")
        _print_figures()


def _print_figures():
    for mode, rounds in sorted(FIGURES.items()):
        tripped = [t for t, _e in rounds]
        exited = [e for _t, e in rounds]
        sys.stderr.write(
            f"\nfencing outage on MariaDB ({mode}): {len(rounds)} rounds; "
            f"A's fence stopped it {min(tripped):.1f} to "
            f"{max(tripped):.1f} s after the cut, its process exited "
            f"{min(exited):.1f} to {max(exited):.1f} s after it "
            f"(owner_timeout {OWNER_TIMEOUT:g} s, [persistence] timeout "
            f"{DB_TIMEOUT:g} s); B finished every time, no duplicate "
            "create\n")


def _url(parsed, port=None):
    if port is not None:
        parsed = parsed.set(port=port)
    return parsed.render_as_string(hide_password=False)


class _Round:
    """One round's private cloud file, bank and data directory, and the
    file_cloud processes run on them."""

    def __init__(self, base):
        base.mkdir()
        self.cloud = str(base / "cloud.json")
        self.bank = str(base / "bank")
        self.data = str(base / "data")
        file_cloud.app_cloud(self.cloud)

    def argv(self, *args):
        return [sys.executable, "-m", "tests.fakes.file_cloud", self.cloud,
                self.bank, self.data, *args]

    @staticmethod
    def env(url, host, slow):
        env = dict(os.environ, PYTHONPATH=ROOT,
                   OS_PERSISTENCE__CONNECTION=url,
                   OS_PERSISTENCE__HOST=host,
                   OS_PERSISTENCE__OWNER_TIMEOUT=str(OWNER_TIMEOUT),
                   OS_PERSISTENCE__TIMEOUT=str(DB_TIMEOUT),
                   STACKVAULT_TEST_SLOW=str(slow))
        env.pop("STACKVAULT_CRASH_AT", None)
        return env

    def run(self, url, host, *args, slow=0.0):
        proc = subprocess.run(self.argv(*args), cwd=ROOT, text=True,
                              capture_output=True, timeout=180,
                              env=self.env(url, host, slow))
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def creates(self):
        return file_cloud.creates(self.cloud)


def _wait(predicate, what, timeout=90.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _operation(engine, operation_id):
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT status, owner_host, generation, result FROM "
            "stackvault_operations WHERE id = :id"),
            {"id": operation_id}).mappings().one()


@pytest.mark.parametrize("mode,round_", [
    (mode, n) for mode, rounds in ROUNDS.items() for n in range(rounds)])
def test_an_outage_longer_than_owner_timeout_runs_the_restore_once(
        database, tmp_path, mode, round_):
    world = _Round(tmp_path / f"{mode}-{round_}")
    direct = _url(database)
    protected = world.run(direct, "host-a", "protect")
    with tcp_proxy.FaultyProxy(database.host, database.port) as proxy:
        first = subprocess.Popen(
            world.argv("restore", protected["checkpoint_id"]), cwd=ROOT,
            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=world.env(_url(database, proxy.port), "host-a", 0.3))
        try:
            _wait(world.creates, "A's first create")
            proxy.cut(mode)
            cut, cut_epoch = time.monotonic(), time.time()
            out, err = first.communicate(timeout=120)
        finally:
            first.kill()
        exited = time.monotonic() - cut
        # A stopped by itself, bounded, with one clear line, and wrote no
        # result: the database never saw it end.
        assert first.returncode != 0, out
        assert "is no longer this process's" in err, err
        [(when, reason)] = TRIPPED.findall(err)
        tripped = float(when) - cut_epoch
        FIGURES[mode].append((tripped, exited))
        print(f"{mode} round {round_}: A's fence stopped it {tripped:.1f} s "
              f"after the cut ({reason}); exited after {exited:.1f} s")
        assert tripped <= exited < EXIT_BOUND, (tripped, exited, err)
        assert not out.strip().startswith("{"), out
        made_by_a = len(world.creates())
        assert 0 < made_by_a < len(ORIGINALS)

        engine = sa.create_engine(direct)
        try:
            [restore_id] = _restores(engine, protected["checkpoint_id"])
            seen = _operation(engine, restore_id)
            assert (seen["status"], seen["owner_host"],
                    seen["generation"]) == ("running", "host-a", 0), seen
            # B, on another host, may take over once A's heartbeat is
            # older than owner_timeout (counted from the cut: A's last
            # beat came before it).
            time.sleep(max(0.0, OWNER_TIMEOUT + 0.5 - (time.monotonic()
                                                       - cut)))
            result = world.run(direct, "host-b", "resume", restore_id,
                               slow=0.05)
            proxy.heal()
            assert result["status"] == "success", result
            names = collections.Counter(
                name for _pid, _id, name in world.creates())
            assert names == {name: 1 for name in ORIGINALS}, names
            time.sleep(2 * DB_TIMEOUT)     # anything of A's still in flight
            ended = _operation(engine, restore_id)
            assert (ended["status"], ended["owner_host"],
                    ended["generation"]) == ("succeeded", "host-b", 1)
            assert json.loads(ended["result"]) == result   # B's, only
        finally:
            engine.dispose()


def _restores(engine, checkpoint_id):
    with engine.connect() as conn:
        return [row.id for row in conn.execute(sa.text(
            "SELECT id FROM stackvault_operations WHERE kind = 'restore' "
            "AND checkpoint = :cp"), {"cp": checkpoint_id})]


def test_the_file_cloud_app_is_what_the_restore_counts():
    """The originals counted above are the fake application's."""
    assert {r for r in fake_cloud.app_cloud().records} == ORIGINALS
