"""Functional tests: real TaskFlow engines and a real bank on disk."""

import pytest
from oslo_config import cfg

from protection import config
from protection.bank.filesystem import FileSystemBank
from protection.plugin.registry import PluginRegistry
from protection.service import ProtectionService
from tests.fakes import fake_cloud


@pytest.fixture
def bank_path(tmp_path):
    return tmp_path / "bank"


@pytest.fixture
def make_service(bank_path):
    def make(workers=4):
        conf = config.load_config([], conf=cfg.ConfigOpts())
        conf.set_override("max_workers", workers, group="engine")
        return ProtectionService(
            conf, PluginRegistry([p() for p in fake_cloud.ALL]),
            FileSystemBank(str(bank_path)))
    return make


@pytest.fixture
def service(make_service):
    return make_service()


@pytest.fixture
def cloud():
    return fake_cloud.app_cloud()


@pytest.fixture
def checkpoint_id(service, cloud):
    return service.protect(cloud, "app", fake_cloud.ROOTS).checkpoint_id
