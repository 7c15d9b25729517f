"""Helpers for a plugin's functional tests, in this tree or out of it.

A functional test runs the real framework (``ProtectionService``, real
TaskFlow engines, a bank on disk, the operations database) against an
in-memory fake of the cloud API the plugin calls:

:func:`make_service`
    A :class:`~protection.service.ProtectionService` with the plugins
    given, a filesystem bank and a SQLite operations database in the
    test's temporary directory, no configuration file read, and SHORT
    timeouts (:data:`TEST_TIMEOUTS`): a fake whose delete never finishes
    fails the rollback in seconds, where the production default
    (``[timeouts] status_wait``, 600 s) would hold the test for ten
    minutes.
:class:`FakeCompute`
    A base for a fake ``conn.compute`` that has a microversion range, as
    openstacksdk reads one (:meth:`~FakeCompute.get_endpoint_data` and
    ``default_microversion``): ``openstack.utils.supports_microversion``
    answers for it as it would for Nova. Subclass it with the calls your
    plugin makes.

Only stackvault's own code is imported (never ``tests``); this module sits
above the plugin door (it builds the whole service), so a plugin imports
it from its tests only, never from its own modules.
"""

import types

from keystoneauth1 import discover
from openstack import exceptions as sdk_exceptions
from openstack import utils as sdk_utils
from oslo_config import cfg

from protection import config
from protection.bank.filesystem import FileSystemBank
from protection.plugin.registry import PluginRegistry
from protection.service import ProtectionService

__all__ = ["FakeCompute", "TEST_TIMEOUTS", "make_conf", "make_service"]

# [timeouts] for tests: waits on an in-memory fake end at the first poll,
# so anything that polls for long is a bug the test should show at once.
TEST_TIMEOUTS = {"status_wait": 3.0, "per_gib": 0.0, "poll_initial": 0.01,
                 "poll_max": 0.2, "request": 5.0}


def make_conf(tmp_path, plugin_classes=(), **overrides):
    """The configuration :func:`make_service` uses: framework defaults,
    no file read (not even ``/etc/stackvault``), the bank and database
    under ``tmp_path``, :data:`TEST_TIMEOUTS`, each plugin's own options
    registered, then ``overrides``: ``{group: {option: value}}`` as
    keyword arguments (``timeouts={"status_wait": 30}``)."""
    conf = cfg.ConfigOpts()
    config.register_framework_opts(conf)
    conf(args=[], project="stackvault", default_config_files=[])
    settings = {
        "filesystem_bank": {"path": str(tmp_path / "bank")},
        "persistence": {
            "connection": f"sqlite:///{tmp_path / 'stackvault.db'}"},
        "engine": {"max_workers": 4},
        "timeouts": dict(TEST_TIMEOUTS),
    }
    for plugin_cls in plugin_classes:
        config.register_component_opts(conf, plugin_cls)
    for group, values in overrides.items():
        settings.setdefault(group, {}).update(values)
    for group, values in settings.items():
        for name, value in values.items():
            conf.set_override(name, value, group=group)
    return conf


def make_service(plugins, tmp_path, **overrides):
    """A ProtectionService for a functional test.

    ``plugins``: plugin classes (made with the service's configuration,
    ``Plugin(conf)``, as the service loads them) or instances;
    ``tmp_path``: the test's own directory (pytest's ``tmp_path``);
    ``overrides``: configuration as ``group={option: value}``, e.g.
    ``engine={"max_workers": 1}``.
    """
    plugins = list(plugins)
    classes = [p if isinstance(p, type) else type(p) for p in plugins]
    conf = make_conf(tmp_path, classes, **overrides)
    registry = PluginRegistry([p(conf) if isinstance(p, type) else p
                               for p in plugins])
    return ProtectionService(conf, registry,
                             FileSystemBank(conf.filesystem_bank.path))


class FakeCompute:
    """Base of an in-memory ``conn.compute`` with a microversion range.

    ``min_microversion`` / ``max_microversion`` are what Nova announces
    (its version document); ``default_microversion`` is the one the
    client asks for (openstacksdk's ``compute_api_version``; ``None``:
    the newest both sides know). Set them per test:
    ``FakeNova(max_microversion="2.63")`` plays an older Nova.
    """

    service_type = "compute"
    min_microversion = "2.1"
    max_microversion = "2.96"
    default_microversion = None

    def __init__(self, min_microversion=None, max_microversion=None,
                 default_microversion=None):
        if min_microversion is not None:
            self.min_microversion = min_microversion
        if max_microversion is not None:
            self.max_microversion = max_microversion
        if default_microversion is not None:
            self.default_microversion = default_microversion

    def get_endpoint_data(self):
        """What ``openstack.utils.supports_microversion`` reads: the range
        as keystoneauth's ``EndpointData`` holds it (version tuples,
        ``(2, 1)``, as a real Nova's comes back)."""
        return types.SimpleNamespace(
            service_type=self.service_type,
            min_microversion=discover.normalize_version_number(
                self.min_microversion),
            max_microversion=discover.normalize_version_number(
                self.max_microversion))

    def supports(self, microversion):
        """Whether a request at ``microversion`` would be served:
        openstacksdk's own answer, so the fake and the plugin agree."""
        return sdk_utils.supports_microversion(self, microversion)

    def require(self, microversion, what):
        """Raise what Nova answers a request that needs ``microversion``
        when the cloud or the client is older: 400 Bad Request (a field or
        value unknown to the version spoken)."""
        if not self.supports(microversion):
            spoken = self.default_microversion or self.max_microversion
            raise sdk_exceptions.BadRequestException(
                f"{what} needs compute API {microversion}; this request "
                f"speaks {spoken} (cloud: {self.min_microversion} to "
                f"{self.max_microversion})")
