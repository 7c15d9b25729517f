"""The volume plugin's restore pre-flight hook with mocked openstacksdk:
the backup, volume type and zone checks, the quota demand, and that it
only reads."""

from unittest import mock

from openstack import exceptions as sdk_exceptions

from plugins import volume as volume_plugin
from protection.model.resource import Resource
from protection.plugin.checks import FAIL
from protection.plugin.checks import PASS
from tests.fakes.plugin_helpers import make_ctx
from tests.fakes.plugin_helpers import obj
from tests.fakes.preflight import by_kind
from tests.fakes.preflight import mutating_calls

VOL = Resource("OS::Cinder::Volume", "vol-1", "data")
SAVED_VOLUME = {"backup_id": "bk-1", "size": 3, "name": "data",
                "description": "", "metadata": {}, "volume_type": "fast",
                "availability_zone": "nova", "bootable": False,
                "image_metadata": {}}


def volume_preflight(conn, parameters=None):
    conn.block_storage.availability_zones.return_value = [obj(name="nova")]
    ctx = make_ctx(VOL, conn, operation="restore", parameters=parameters,
                   metadata=SAVED_VOLUME)
    return volume_plugin.VolumePlugin().restore_preflight(ctx, VOL)


def test_volume_checks_backup_type_and_zone_and_demands_quota():
    conn = mock.Mock()
    conn.block_storage.get_backup.return_value = obj(status="available")
    conn.block_storage.find_type.return_value = None
    checks, maps, demands = by_kind(volume_preflight(conn))
    assert checks["backup available"].verdict == PASS
    assert checks["volume type exists"].verdict == FAIL
    assert "volume_type_mapping" in checks["volume type exists"].detail
    assert checks["availability zone exists"].verdict == PASS
    assert demands == {"volume.volumes": 1, "volume.gigabytes": 3}
    assert ("volume type", "fast", "fast") in maps
    assert mutating_calls(conn) == []


def test_volume_whose_backup_is_gone_fails():
    conn = mock.Mock()
    conn.block_storage.get_backup.side_effect = \
        sdk_exceptions.NotFoundException
    checks, maps, _demands = by_kind(volume_preflight(
        conn, {"volume_type": "slow", "restore_name": "copy"}))
    assert checks["backup available"].verdict == FAIL
    assert "is not visible here" in checks["backup available"].detail
    assert ("name", "data", "copy") in maps
    assert ("volume type", "fast", "slow") in maps
