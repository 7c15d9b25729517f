"""RestoredIds: the restore's original -> new id map."""

import threading
import time

import pytest

from protection import exceptions
from protection.model.restored_ids import RestoredIds


def test_record_get_forget_require():
    ids = RestoredIds()
    ids.record("OS::Nova::Server", "a", "new-a")
    assert ids.get("OS::Nova::Server", "a") == "new-a"
    assert ("OS::Nova::Server", "a") in ids
    assert ids.get("OS::Cinder::Volume", "a") is None   # type matters
    ids.forget("OS::Nova::Server", "a")
    with pytest.raises(exceptions.StackvaultError, match="no restored"):
        ids.require("OS::Nova::Server", "a")


def test_create_once_under_concurrency_creates_one_object():
    ids = RestoredIds()
    created = []
    start = threading.Barrier(8)
    results = []

    def create():
        time.sleep(0.05)         # long enough for every caller to arrive
        created.append(1)
        return f"router-{len(created)}"

    def worker():
        start.wait()
        results.append(ids.create_once("OS::Neutron::Router", "r1", create))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert created == [1]
    assert sorted(results) == [("router-1", False)] * 7 + [("router-1", True)]


def test_create_once_after_a_failed_create_tries_again():
    ids = RestoredIds()

    def broken():
        raise RuntimeError("quota")
    with pytest.raises(RuntimeError):
        ids.create_once("OS::Neutron::Router", "r1", broken)
    assert ids.create_once("OS::Neutron::Router", "r1",
                           lambda: "r-new") == ("r-new", True)
