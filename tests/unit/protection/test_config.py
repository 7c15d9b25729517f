"""stackvault.conf with oslo.config: defaults, files, errors, list_opts."""

import os

import mock
import pytest
from oslo_config import cfg
import stevedore
from stevedore import extension

from protection import config
from protection import loader
from protection import exceptions
from protection.bank.filesystem import FileSystemBank
from protection.datasources.heat.datasource import HeatDatasource
from tests.fakes import fake_cloud


def write(tmp_path, text, name="stackvault.conf"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.fixture
def empty_conf(tmp_path):
    return write(tmp_path, "")


def test_defaults(empty_conf):
    conf = config.load_config([empty_conf])
    assert conf.bank.backend == "filesystem"
    assert conf.engine.max_workers == 16
    assert conf.timeouts.status_wait == 600.0
    assert conf.timeouts.per_gib == 120.0
    assert conf.timeouts.poll_initial == 0.25
    assert conf.timeouts.poll_lateness == 0.05
    assert conf.timeouts.poll_max == 5.0
    assert conf.filesystem_bank.path is None
    assert config.filesystem_bank_path(conf) == os.path.join(
        config.default_data_dir(), "bank")
    assert config.persistence_url(conf) == "sqlite:///" + os.path.join(
        config.default_data_dir(), "stackvault.db")


def test_default_data_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert config.default_data_dir() == str(tmp_path / "xdg" / "stackvault")
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert config.default_data_dir() == str(
        tmp_path / "home" / ".local" / "share" / "stackvault")


def test_without_config_files_uses_the_default_search(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    with mock.patch.object(cfg, "find_config_files", return_value=[]):
        conf = config.load_config()
    assert conf.engine.max_workers == 16


def test_config_file_overrides_defaults(tmp_path):
    path = write(tmp_path, f"""
[bank]
backend = swift

[filesystem_bank]
path = {tmp_path}/bank

[engine]
max_workers = 16

[timeouts]
status_wait = 30
per_gib = 7.5
poll_initial = 0.1
poll_max = 2
""")
    conf = config.load_config([path])
    assert conf.bank.backend == "swift"
    assert conf.filesystem_bank.path == f"{tmp_path}/bank"
    assert conf.engine.max_workers == 16
    assert conf.timeouts.status_wait == 30.0
    assert conf.timeouts.per_gib == 7.5
    assert conf.timeouts.poll_initial == 0.1
    assert conf.timeouts.poll_max == 2.0


def test_later_config_file_wins(tmp_path):
    first = write(tmp_path, "[engine]\nmax_workers = 2\n", "a.conf")
    second = write(tmp_path, "[engine]\nmax_workers = 3\n", "b.conf")
    assert config.load_config([first, second]).engine.max_workers == 3


def test_missing_config_file_is_a_config_error(tmp_path):
    missing = str(tmp_path / "nope.conf")
    with pytest.raises(exceptions.ConfigError) as err:
        config.load_config([missing])
    assert missing in str(err.value)
    assert "does not exist" in str(err.value)


@pytest.mark.parametrize("text, where", [
    ("[engine]\nmax_workers = many\n", "max_workers"),
    ("[engine]\nmax_workers = 0\n", "max_workers"),
    ("[engine]\nmax_workers = 1000\n", "max_workers"),
    ("[timeouts]\nstatus_wait = soon\n", "status_wait"),
    ("[timeouts]\npoll_initial = 0\n", "poll_initial"),
    ("[timeouts]\nper_gib = -1\n", "per_gib"),
])
def test_bad_value_is_a_config_error_at_load_time(tmp_path, text, where):
    path = write(tmp_path, text)
    with pytest.raises(exceptions.ConfigError) as err:
        config.load_config([path])
    assert where in str(err.value)
    assert isinstance(err.value, exceptions.StackvaultError)


def test_unparseable_file_is_a_config_error(tmp_path):
    path = write(tmp_path, "this is not [ini\n = x")
    with pytest.raises(exceptions.ConfigError, match="bad configuration"):
        config.load_config([path])


def test_load_config_into_a_given_conf(empty_conf):
    conf = cfg.ConfigOpts()
    assert config.load_config([empty_conf], conf=conf) is conf
    assert conf.engine.max_workers == 16


class OptsPlugin(fake_cloud.VolumePlugin):
    config_group = "test_volume"
    config_opts = [cfg.IntOpt("chunk_mib", default=64, min=1),
                   cfg.StrOpt("container", default="backups")]


def test_component_registers_its_own_group(tmp_path):
    path = write(tmp_path, "[test_volume]\nchunk_mib = 8\n")
    conf = config.load_config([path])
    config.register_component_opts(conf, OptsPlugin)
    assert conf.test_volume.chunk_mib == 8
    assert conf.test_volume.container == "backups"
    assert OptsPlugin(conf).config.chunk_mib == 8


def test_component_bad_value_is_a_config_error(tmp_path):
    path = write(tmp_path, "[test_volume]\nchunk_mib = lots\n")
    conf = config.load_config([path])
    with pytest.raises(exceptions.ConfigError, match="chunk_mib"):
        config.register_component_opts(conf, OptsPlugin)


def test_component_without_options_registers_nothing(empty_conf):
    conf = config.load_config([empty_conf])
    config.register_component_opts(conf, fake_cloud.VolumePlugin)
    config.register_component_opts(conf, FileSystemBank)
    assert "test_volume" not in conf


def _manager(*classes):
    return extension.ExtensionManager.make_test_instance(
        [extension.Extension(cls.__name__, None, cls, None)
         for cls in classes])


def test_list_opts_includes_framework_groups():
    with mock.patch.object(stevedore, "ExtensionManager",
                           return_value=_manager()):
        groups = dict(config.list_opts())
    for group in ("bank", "filesystem_bank", "engine", "timeouts"):
        assert group in groups
    names = {o.dest for o in groups["timeouts"]}
    assert names == {"request", "status_wait", "per_gib", "poll_initial",
                     "poll_max", "poll_lateness"}
    assert {o.dest for o in groups["engine"]} == {"max_workers"}
    assert all(isinstance(o, cfg.Opt) for opts in groups.values()
               for o in opts)


def test_list_opts_includes_installed_plugin_groups():
    managers = {loader.BANKS: _manager(FileSystemBank),
                loader.PLUGINS: _manager(OptsPlugin,
                                                  fake_cloud.ImagePlugin),
                loader.DATASOURCES: _manager(HeatDatasource)}

    def manager(namespace, **kwargs):
        return managers[namespace]

    with mock.patch.object(stevedore, "ExtensionManager",
                           side_effect=manager):
        groups = dict(config.list_opts())
    assert [o.dest for o in groups["test_volume"]] == ["chunk_mib",
                                                        "container"]
    assert [o.dest for o in groups["heat_datasource"]] == [
        "max_workers", "nested_depth", "max_event_details",
        "full_refresh_polls"]
    assert [o.dest for o in groups["image_data"]] == ["object_size_mib",
                                                       "concurrency",
                                                       "process_concurrency"]
    assert {"trust_lifetime", "auth_type", "auth_url", "username",
            "password", "timeout"} <= {o.dest for o in groups["trustee"]}
    assert len(groups) == 11


def test_list_opts_with_the_real_entry_points():
    # The installed distribution's own namespace (used by
    # oslo-config-generator) loads without error.
    groups = dict(config.list_opts())
    assert {"bank", "filesystem_bank", "engine", "timeouts",
            "image_data"} <= set(groups)
