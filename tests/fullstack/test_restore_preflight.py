"""Dry-run and selective restore of the demo application on a real cloud.

The demo-sized application (tools/cloudkit/demo_app.py) is made once
under a unique prefix and protected once. Then, in one lean round trip:

* ``dry_run`` of the whole checkpoint, next to the running original,
  through a connection whose keystoneauth session counts every request's
  method: only GETs (and HEADs) reach the cloud, every verdict passes
  (flavor, image, backups, quotas, addresses on the restored network,
  the checkpoint's hashes), the plan has the children before the server;
* a dry-run with a flavor that does not exist, a volume type that does
  not exist and a volume left out without a mapping fails exactly those
  checks, still without a mutating request;
* ``restore --only`` of one volume creates that volume alone, holding
  the original's bytes.

Needs devcloud (byte checks); everything made is deleted at the end.
"""

import collections
import secrets

import openstack
import pytest

from tests.fullstack import service_fixtures
from tests.fakes.devcloud import require_devcloud
from tools.cloudkit import demo_app
from tools.cloudkit import teardown
from tools.cloudkit import volume_bytes

SERVER, VOLUME = demo_app.SERVER, demo_app.VOLUME
READS = {"GET", "HEAD"}


@pytest.fixture(scope="module")
def protected(conn, tmp_path_factory):
    require_devcloud()
    prefix = f"stackvault-prefl-{secrets.token_hex(3)}"
    cidr = f"10.252.{secrets.randbelow(250) + 1}.0/24"
    fixed_ip = cidr.replace("0/24", "10")
    service = service_fixtures.make_service(tmp_path_factory.mktemp("bank"))
    app = None
    checkpoint_id = None
    try:
        app = demo_app.create_application(conn, prefix, cidr, fixed_ip,
                                          say=lambda _text: None)
        # Without the root disk, so that the server boots from its image
        # and the dry-run checks that the image exists (a saved root disk
        # is restored as a new image: tests/fullstack/
        # test_restore_elsewhere.py covers that path).
        checkpoint_id = service.protect(
            conn, "preflight", [(SERVER, app["server"].id)],
            {SERVER: {"snapshot_root_disk": "false"}}).checkpoint_id
        yield service, app, checkpoint_id
    finally:
        if checkpoint_id:
            service.delete(checkpoint_id, conn)
        if app:
            demo_app.delete_application(conn, app)


@pytest.fixture
def counting_conn(cloud_name):
    """A connection whose session counts the method of every request made
    after authentication."""
    fresh = openstack.connect(cloud=cloud_name)
    fresh.authorize()
    methods = collections.Counter()
    session = fresh.session
    real = session.request

    def request(url, method, *args, **kwargs):
        methods[method.upper()] += 1
        return real(url, method, *args, **kwargs)
    session.request = request
    yield fresh, methods
    fresh.close()


def test_dry_run_only_reads_and_judges_right(protected, counting_conn):
    service, app, checkpoint_id = protected
    conn, methods = counting_conn
    report = service.dry_run(checkpoint_id, conn)
    assert report.ok, report.failing
    assert set(methods) <= READS, methods
    assert methods["GET"] > 0
    verdicts = collections.Counter(
        (c.name, c.verdict) for c in report.checks)
    for name in ("checkpoint verifies", "flavor exists", "image exists",
                 "quota instances", "quota cores", "quota RAM (MiB)",
                 "quota volumes", "quota volume gigabytes", "quota ports",
                 "quota networks", "quota routers", "quota security groups",
                 f"port {app['port'].id}: fixed IPs and MAC free"):
        assert verdicts[(name, "pass")] == 1, (name, report.checks)
    assert verdicts[("backup available", "pass")] == 2
    # Image data is uploaded: Glance's quotas, which devcloud's Glance
    # does not limit (its /v2/info/usage is empty).
    glance = [(c.name, c.verdict, c.detail.endswith("; unlimited"))
              for c in report.checks
              if c.name in ("quota images", "quota image MiB")]
    assert glance == [("quota images", "pass", True),
                      ("quota image MiB", "pass", True)], report.checks
    stages = [{r.type for r in stage} for stage in report.stages]
    assert stages[-1] == {SERVER}
    assert VOLUME in stages[0]
    targets = {(m.what, m.original): m.target for m in report.mappings}
    assert targets[("network", app["network"].id)] == \
        "restored from the checkpoint"
    assert targets[("name", app["server"].name)] == app["server"].name


def test_dry_run_names_what_would_fail(protected, counting_conn):
    service, app, checkpoint_id = protected
    conn, methods = counting_conn
    left_out = next(iter(app["volumes"]))
    report = service.dry_run(checkpoint_id, conn, {
        SERVER: {"flavor_mapping": {
            demo_flavor(conn, app): "no-such-flavor"}},
        VOLUME: {"volume_type": "no-such-type"}},
        exclude=[(VOLUME, left_out)])
    failing = {c.name: c.detail for c in report.failing}
    assert set(failing) == {"flavor exists", "volume type exists",
                            "volumes"}, failing
    assert "no-such-flavor" in failing["flavor exists"]
    assert f"volume {left_out} is not restored" in failing["volumes"]
    assert "volume_mapping" in failing["volumes"]
    assert set(methods) <= READS, methods


def demo_flavor(conn, app):
    return conn.compute.get_server(app["server"].id).flavor.original_name


def test_only_one_volume_is_restored_with_its_bytes(protected, conn,
                                                    cleanup):
    service, app, checkpoint_id = protected
    original, data = next(iter(app["volumes"].items()))
    result = service.restore(checkpoint_id, conn,
                             only=[(VOLUME, original)])
    new_id = result.restored[f"{VOLUME}#{original}"]
    cleanup(teardown.delete_volume, conn, new_id)
    assert list(result.restored) == [f"{VOLUME}#{original}"]
    assert conn.block_storage.get_volume(new_id).status == "available"
    assert volume_bytes.read_volume(new_id, len(data), 0) == data
