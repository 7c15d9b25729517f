"""The fake cloud of tests/fakes/fake_cloud.py, kept in a JSON file, so
that a process killed half way through an operation leaves the "cloud" as
it was, and another process can resume or abort the operation on it.

``python -m tests.fakes.file_cloud CLOUD BANK DATA_DIR protect|restore ...``
runs one operation through the real service, TaskFlow engines, bank and
persistence database; the crash tests start it with STACKVAULT_CRASH_AT.
"""

import itertools
import json
import os
import sys

from oslo_config import cfg

from protection import config
from protection.bank.filesystem import FileSystemBank
from protection.plugin.registry import PluginRegistry
from protection.service import ProtectionService
from tests.fakes import fake_cloud


class FileCloud(fake_cloud.FakeCloud):
    """FakeCloud whose records survive the process (one JSON file)."""

    def __init__(self, path):
        super().__init__()
        self.path = path
        if os.path.exists(path):
            with open(path) as f:
                state = json.load(f)
            self.records = {
                rid: dict(r, data=r["data"].encode("latin-1"))
                for rid, r in state["records"].items()}
            self.deps = state["deps"]
            self._ids = itertools.count(state["next_id"])

    def _save(self):
        next_id = next(self._ids)
        self._ids = itertools.count(next_id)
        state = {"records": {rid: dict(r, data=r["data"].decode("latin-1"))
                             for rid, r in self.records.items()},
                 "deps": self.deps, "next_id": next_id}
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def add(self, *args, **kwargs):
        rid = super().add(*args, **kwargs)
        self._save()
        return rid

    def create(self, *args, **kwargs):
        rid = super().create(*args, **kwargs)
        with self._lock:
            self._save()
        return rid

    def delete(self, rid):
        super().delete(rid)
        with self._lock:
            self._save()


def app_cloud(path):
    cloud = FileCloud(path)
    template = fake_cloud.app_cloud()
    for rid, record in template.records.items():
        cloud.add(record["type"], rid, record["data"], template.deps[rid])
    return cloud


def service(bank_path):
    conf = config.load_config([], conf=cfg.ConfigOpts())
    return ProtectionService(
        conf, PluginRegistry([p() for p in fake_cloud.ALL]),
        FileSystemBank(bank_path))


def main(argv):
    cloud_path, bank_path, data_dir, operation, *args = argv
    os.environ["XDG_DATA_HOME"] = data_dir
    svc, cloud = service(bank_path), FileCloud(cloud_path)
    if operation == "protect":
        result = svc.protect(cloud, "app", fake_cloud.ROOTS)
    else:
        result = svc.restore(args[0], cloud)
    print(json.dumps(result.to_dict()))


if __name__ == "__main__":
    main(sys.argv[1:])
