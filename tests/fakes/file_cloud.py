"""The fake cloud of tests/fakes/fake_cloud.py, kept in a JSON file, so
that a process killed half way through an operation leaves the "cloud" as
it was, and another process can resume or abort the operation on it.

``python -m tests.fakes.file_cloud CLOUD BANK DATA_DIR protect|restore ...``
runs one operation through the real service, TaskFlow engines, bank and
persistence database; the crash tests start it with STACKVAULT_CRASH_AT.
``resume OPERATION_ID`` and ``conduct OPERATION_ID`` (a conductor's job
worker) take an interrupted operation over: the fencing tests race them,
with ``STACKVAULT_TEST_SLOW`` seconds per step. With
``STACKVAULT_TEST_DB_DOWN=PATH`` every database statement fails while
PATH exists. Options come from ``OS_<GROUP>__<OPTION>`` variables
(oslo.config), such as ``OS_PERSISTENCE__HOST``.
"""

import itertools
import json
import logging
import os
import sqlite3
import sys
import time

import sqlalchemy as sa
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
            # Every create, by every process, one line appended: what the
            # fencing tests count (two processes saving the JSON file at
            # once would hide each other's records).
            with open(self.path + ".creates", "a") as log:
                log.write(f"{os.getpid()} {rid} {self.records[rid]['name']}"
                          "\n")
        return rid

    def delete(self, rid):
        super().delete(rid)
        with self._lock:
            self._save()

    def unmark(self, rid):
        super().unmark(rid)
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


def creates(cloud_path):
    """``[(pid, new id, name)]`` of every create any process made."""
    try:
        with open(cloud_path + ".creates") as log:
            return [tuple(line.split()) for line in log]
    except FileNotFoundError:
        return []


def _rival(svc, cloud_path, operation, operation_id):
    """``resume`` or ``conduct`` (a conductor's job worker) one operation:
    what the fencing tests race; prints the outcome."""
    def connect(_name):
        cloud = FileCloud(cloud_path)
        cloud.slow = {rid: SLOW for rid in cloud.records}
        return cloud
    if operation == "conduct":
        from protection.operations import conductor
        worker = conductor.JobWorker(svc.conf, svc, connect,
                                     sleep=lambda _s: None)
        job = _Job({"operation_id": operation_id})
        _wait_for_the_start()
        print("consume" if worker(job) else "release")
        return
    from protection.operations import store as ops
    _wait_for_the_start()
    try:
        result = svc.resume(operation_id, connect)
    except ops.OperationBusy as exc:
        print(f"busy: {exc}")
        return
    print(json.dumps(result.to_dict()))


def _wait_for_the_start():
    """Rivals wait for one wall-clock instant (``STACKVAULT_TEST_START``,
    epoch seconds), with the database open: their takes-over collide
    instead of following each other by the time an import takes."""
    start = float(os.environ.get("STACKVAULT_TEST_START", "0"))
    time.sleep(max(0.0, start - time.time()))


class _Job:
    """What a TaskFlow conductor hands its worker: a job with details."""

    def __init__(self, details):
        self.details = details


SLOW = float(os.environ.get("STACKVAULT_TEST_SLOW", "0"))


def _outage_while(flag_path, engine):
    """Every statement on ``engine`` fails while ``flag_path`` exists:
    the persistence database is away for this process (the fencing
    tests' outage; SQLite has no connection to cut)."""
    def refuse(*_args, **_kwargs):
        if os.path.exists(flag_path):
            raise sqlite3.OperationalError(
                "unable to open database (test outage)")
    sa.event.listen(engine, "before_cursor_execute", refuse)


def main(argv):
    cloud_path, bank_path, data_dir, operation, *args = argv
    # Warnings with their epoch time: the fencing tests read when the
    # fence stopped a run.
    logging.basicConfig(format="%(created).3f %(name)s: %(message)s")
    os.environ["XDG_DATA_HOME"] = data_dir
    svc, cloud = service(bank_path), FileCloud(cloud_path)
    cloud.slow = {rid: SLOW for rid in cloud.records}
    if os.environ.get("STACKVAULT_TEST_DB_DOWN"):
        _outage_while(os.environ["STACKVAULT_TEST_DB_DOWN"],
                      svc.stores.operations.engine)
    if operation in ("resume", "conduct"):
        svc.stores.operations.get(args[0])     # opened before the start
        _rival(svc, cloud_path, operation, args[0])
        return
    if operation == "protect":
        result = svc.protect(cloud, "app", fake_cloud.ROOTS)
    else:
        result = svc.restore(args[0], cloud)
    print(json.dumps(result.to_dict()))


if __name__ == "__main__":
    main(sys.argv[1:])
