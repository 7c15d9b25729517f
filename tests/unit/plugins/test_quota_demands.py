"""Every quota name a plugin of stackvault's demands is in its own
``quota_demands`` (read from the source: a pre-flight path a unit test
misses would otherwise fail only in a restore)."""

import ast
import pathlib

import pytest

from plugins import image
from plugins import keypair
from plugins import heat_stack
from plugins.network import plugin as network
from plugins.server import plugin as server
from plugins.volume import plugin as volume
from protection.plugin import image_data
from protection.plugin.registry import PluginRegistry

ROOT = pathlib.Path(__file__).resolve().parents[3]
PLUGINS = {"image.py": image.ImagePlugin, "keypair.py": keypair.KeyPairPlugin,
           "heat_stack.py": heat_stack.HeatStackPlugin,
           "network": network.NetworkPlugin, "server": server.ServerPlugin,
           "volume": volume.VolumePlugin}


def demanded(where):
    """Quota names demanded in ``plugins/<where>`` (a module or a
    package): ``Demand("NAME", ...)`` literals, and image_data's names
    where it calls ``image_data.quota_demands``."""
    path = ROOT / "plugins" / where
    files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
    names = set()
    for source in files:
        for node in ast.walk(ast.parse(source.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else \
                getattr(func, "id", None)
            if called == "Demand":
                assert isinstance(node.args[0], ast.Constant), (
                    f"{source}: a Demand's name is not a literal")
                names.add(node.args[0].value)
            elif called == "quota_demands":
                names.update(image_data.QUOTA_NAMES)
    return names


@pytest.mark.parametrize("where", sorted(PLUGINS))
def test_every_demanded_quota_is_declared(where):
    assert demanded(where) <= set(PLUGINS[where].quota_demands)


def test_the_scan_sees_the_demands():
    # Guards the test above against a scan that finds nothing.
    assert {"compute.cores", "network.floating_ips", "image.image_count_total"
            } <= demanded("server")
    assert demanded("keypair.py") == set()


def test_stackvaults_plugins_load_together():
    registry = PluginRegistry([cls() for cls in PLUGINS.values()])
    assert registry.quota_labels()["network.ports"] == "ports"
