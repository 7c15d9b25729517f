"""protection.testing: the service and fake compute that plugin
authors' functional tests build on."""

from oslo_config import cfg
import pytest
from openstack import exceptions as sdk_exceptions
from openstack import utils as sdk_utils

from plugins import keypair
from protection import config
from protection import testing
from tests.fakes import fake_cloud
from tests.fakes import service as fakes_service


class ConfiguredKeyPairs(keypair.KeyPairPlugin):
    config_group = "test_keypairs"
    config_opts = [cfg.IntOpt("copies", default=2)]


def test_the_service_lives_in_tmp_path_with_short_timeouts(tmp_path):
    service = testing.make_service([keypair.KeyPairPlugin], tmp_path)
    assert service.timeouts.status_wait == 3.0
    assert service.timeouts.poll_max == 0.2
    assert service.conf.timeouts.request == 5.0
    assert service.bank.describe() == f"filesystem bank at {tmp_path}/bank"
    assert config.persistence_url(service.conf) == \
        f"sqlite:///{tmp_path / 'stackvault.db'}"
    assert service.registry.types() == [keypair.RESOURCE_TYPE]


def test_classes_get_the_conf_and_instances_are_taken_as_they_are(
        tmp_path):
    given = keypair.KeyPairPlugin()
    service = testing.make_service([ConfiguredKeyPairs], tmp_path)
    plugin = service.registry.get(keypair.RESOURCE_TYPE)
    assert plugin.conf is service.conf
    assert plugin.config.copies == 2          # its own options registered
    other = testing.make_service([given], tmp_path / "other")
    assert other.registry.get(keypair.RESOURCE_TYPE) is given


def test_overrides_win_over_the_test_defaults(tmp_path):
    service = testing.make_service(
        [keypair.KeyPairPlugin], tmp_path, timeouts={"status_wait": 30},
        engine={"max_workers": 1}, test_keypairs={})
    assert service.timeouts.status_wait == 30
    assert service.timeouts.poll_initial == 0.01
    assert service.conf.engine.max_workers == 1


def test_no_configuration_file_is_read(tmp_path, monkeypatch):
    # A developer's own ~/.stackvault/stackvault.conf must not change what
    # a test does (load_config([]) would read it).
    home = tmp_path / "home"
    (home / ".stackvault").mkdir(parents=True)
    (home / ".stackvault" / "stackvault.conf").write_text(
        "[timeouts]\npoll_initial = 7\n")
    monkeypatch.setenv("HOME", str(home))
    assert config.load_config([]).timeouts.poll_initial == 7
    assert testing.make_conf(tmp_path).timeouts.poll_initial == 0.01


class FakeNova(testing.FakeCompute):
    pass


@pytest.mark.parametrize("fake, wanted, answer", [
    (FakeNova(), "2.64", True),
    (FakeNova(max_microversion="2.60"), "2.64", False),
    (FakeNova(min_microversion="2.70"), "2.64", False),
    # A client pinned to an older default speaks that, whatever the cloud.
    (FakeNova(default_microversion="2.60"), "2.64", False),
    (FakeNova(default_microversion="2.64"), "2.64", True),
])
def test_the_fake_answers_openstacksdks_microversion_check(fake, wanted,
                                                           answer):
    assert sdk_utils.supports_microversion(fake, wanted) is answer
    assert fake.supports(wanted) is answer


def test_the_range_reads_as_keystoneauth_gives_it():
    # A real Nova's endpoint data holds version tuples, not strings.
    data = FakeNova(max_microversion="2.104").get_endpoint_data()
    assert (data.min_microversion, data.max_microversion) == ((2, 1),
                                                              (2, 104))
    assert data.service_type == "compute"


def test_a_request_beyond_the_spoken_microversion_is_a_bad_request():
    fake = FakeNova(max_microversion="2.60")
    fake.require("2.60", "anything up to 2.60")
    with pytest.raises(sdk_exceptions.BadRequestException) as err:
        fake.require("2.64", "server group policy")
    assert str(err.value).endswith(
        "server group policy needs compute API 2.64; this request speaks "
        "2.60 (cloud: 2.1 to 2.60)")


def test_the_fakes_service_is_the_public_one_with_what_its_tests_had(
        tmp_path, monkeypatch):
    """tests/fakes/service.make_service builds on this module's: same
    bank, workers asked, the data directory's database, production
    timeouts."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    made = fakes_service.make_service(tmp_path, workers=3)
    conf = made.conf
    assert conf.engine.max_workers == 3
    assert conf.filesystem_bank.path == str(tmp_path / "bank")
    assert config.persistence_url(conf) == \
        f"sqlite:///{tmp_path / 'xdg' / 'stackvault' / 'stackvault.db'}"
    assert conf.timeouts.status_wait == 600.0
    assert sorted(made.registry.types()) == sorted(
        p.resource_type for p in fake_cloud.ALL)
