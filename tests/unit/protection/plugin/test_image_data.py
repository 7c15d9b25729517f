"""``[image_data] object_size_mib``: the framework option both the image
and the server plugin cut image data by, and its deprecated old name.

The streaming, hashing and checks of ``protection/image_data.py`` are tested
through the plugins that use it (tests/unit/plugins/image/test_image.py and
the server plugin's root-disk tests).
"""

from oslo_config import cfg
import pytest

from protection import config
from protection import exceptions
from protection.plugin import image_data

MiB = 1024 * 1024


def _conf(tmp_path, text):
    path = tmp_path / "stackvault.conf"
    path.write_text(text)
    return config.load_config([str(path)], conf=cfg.ConfigOpts())


def test_default_is_64_mib_with_or_without_a_configuration(tmp_path):
    assert image_data.object_size(None) == 64 * MiB
    assert image_data.object_size(cfg.ConfigOpts()) == 64 * MiB
    assert image_data.object_size(_conf(tmp_path, "")) == 64 * MiB


def test_object_size_mib(tmp_path):
    conf = _conf(tmp_path, "[image_data]\nobject_size_mib = 8\n")
    assert image_data.object_size(conf) == 8 * MiB


def test_the_old_image_plugin_option_still_works(tmp_path):
    conf = _conf(tmp_path, "[image_plugin]\nobject_size_mb = 2\n")
    assert image_data.object_size(conf) == 2 * MiB


def test_the_new_option_wins_over_the_old_one(tmp_path):
    conf = _conf(tmp_path, "[image_plugin]\nobject_size_mb = 2\n"
                           "[image_data]\nobject_size_mib = 5\n")
    assert image_data.object_size(conf) == 5 * MiB


def test_a_bad_value_under_the_old_name_is_a_config_error(tmp_path):
    with pytest.raises(exceptions.ConfigError, match="object_size_mib"):
        _conf(tmp_path, "[image_plugin]\nobject_size_mb = 0\n")
