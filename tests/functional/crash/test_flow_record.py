"""A resumed operation's flow is rebuilt only from stackvault's own
factory record (issue #23 item 1; issue #21 item 6).

Real TaskFlow SQLAlchemy persistence (SQLite), a real bank and the
JSON-file fake cloud of tests/fakes/file_cloud.py: a restore is killed in
a child process (``STACKVAULT_CRASH_AT``), its flow detail is then
rewritten in the database as anyone holding its password could, and
this process resumes it. A child process per case: marked ``crash``.
"""

import collections
import os
import subprocess
import sys

import pytest

from flows import faults
from protection.operations import flow_factory
from tests.fakes import fake_cloud
from tests.fakes import file_cloud
from tests.fakes.paths import ROOT

pytestmark = pytest.mark.crash
OLD_FACTORY = "protection.flow_factory.operation_flow"
CRASH_AT = "Test::Server#web/CreateRecord:after_call"
ORIGINALS = {"img", "net", "vol-web", "vol-db", "web", "db"}


@pytest.fixture
def world(tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    paths = {"cloud": str(tmp_path / "cloud.json"),
             "bank": str(tmp_path / "bank"), "data": str(data)}
    file_cloud.app_cloud(paths["cloud"])
    return paths


def _connect(world):
    return lambda _name: file_cloud.FileCloud(world["cloud"])


def _interrupted_restore(world):
    """A restore killed at CRASH_AT; (service, its operation)."""
    service = file_cloud.service(world["bank"])
    checkpoint_id = service.protect(
        file_cloud.FileCloud(world["cloud"]), "app",
        fake_cloud.ROOTS).checkpoint_id
    env = dict(os.environ, STACKVAULT_CRASH_AT=CRASH_AT, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "tests.fakes.file_cloud", world["cloud"],
         world["bank"], world["data"], "restore", checkpoint_id],
        env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == faults.EXIT_CODE, proc.stderr
    service = file_cloud.service(world["bank"])
    [op] = [o for o in service.list_operations() if o.kind == "restore"]
    return service, op


def _rewrite_factory(service, operation_id, **changes):
    """Change the flow detail's factory record in the database."""
    flows = service.stores.flows
    _book, detail = flows.load(operation_id)
    factory = dict(detail.meta["factory"], **changes)
    detail.meta = dict(detail.meta, factory=factory)
    conn = flows.backend.get_connection()
    try:
        conn.update_flow_details(detail)
    finally:
        conn.close()


def test_a_tampered_factory_is_refused_and_runs_nothing(world, tmp_path):
    service, op = _interrupted_restore(world)
    planted = tmp_path / "planted-by-the-database"
    _rewrite_factory(service, op.id, name="os.system",
                     args=[f"touch {planted}"], kwargs={})
    with pytest.raises(flow_factory.RefusedFlowRecord,
                       match=f"operation {op.id}.*'os.system'"):
        service.resume(op.id, _connect(world))
    assert not planted.exists()


def test_tampered_arguments_are_refused(world):
    service, op = _interrupted_restore(world)
    _book, detail = service.stores.flows.load(op.id)
    kwargs = dict(detail.meta["factory"]["kwargs"], policy="; rm -rf /")
    _rewrite_factory(service, op.id, kwargs=kwargs)
    with pytest.raises(flow_factory.RefusedFlowRecord, match="policy"):
        service.resume(op.id, _connect(world))


def test_an_operation_saved_before_the_layout_move_resumes(world):
    """Operations saved by 0.1 name ``protection.flow_factory``."""
    service, op = _interrupted_restore(world)
    _rewrite_factory(service, op.id, name=OLD_FACTORY)
    _book, detail = service.stores.flows.load(op.id)
    assert detail.meta["factory"]["name"] == OLD_FACTORY
    result = service.resume(op.id, _connect(world))
    assert result.ok
    cloud = file_cloud.FileCloud(world["cloud"])
    restored = collections.Counter(cloud.records[r]["name"]
                                   for r in cloud.created())
    assert restored == {name: 1 for name in ORIGINALS}
