"""Retention by plan id: two deployments that share a bank, each with a
plan named "nightly" (own database, own plan id), never prune each
other's checkpoints (issue #23 item 8)."""

from oslo_config import cfg

from protection import config
from protection.bank.filesystem import FileSystemBank
from protection.plans import run as plan_run
from protection.plugin.registry import PluginRegistry
from protection.service import ProtectionService
from tests.fakes import fake_cloud

SETTINGS = {"resources": [["Test::Server", "web"]], "parameters": {},
            "schedule": None, "keep": 1, "keep_days": None,
            "cloud": "devcloud"}


def _deployment(tmp_path, name, bank_path):
    conf = config.load_config([], conf=cfg.ConfigOpts())
    conf.set_override("connection", f"sqlite:///{tmp_path / name}.db",
                      group="persistence")
    return ProtectionService(
        conf, PluginRegistry([p() for p in fake_cloud.ALL]),
        FileSystemBank(str(bank_path)))


def test_same_plan_name_in_a_shared_bank_prunes_only_its_own(tmp_path):
    bank_path = tmp_path / "bank"
    one = _deployment(tmp_path, "one", bank_path)
    two = _deployment(tmp_path, "two", bank_path)
    cloud = fake_cloud.app_cloud()

    def connect(_name):
        return cloud
    plans = {d: d.stores.plans.create("nightly", SETTINGS, None)
             for d in (one, two)}
    assert plans[one].id != plans[two].id
    made = {one: [], two: []}
    for _round in range(3):
        for deployment in (one, two):
            done = plan_run.run(deployment, connect, plans[deployment])
            assert done.ok, done.error
            made[deployment].append(done.checkpoint_id)
            others = made[two if deployment is one else one]
            assert not set(done.deleted) & set(others)
    remaining = {c.id: c.plan_id for c in one.list_checkpoints()}
    # keep = 1: each deployment kept exactly its newest.
    assert remaining == {made[one][-1]: plans[one].id,
                         made[two][-1]: plans[two].id}
