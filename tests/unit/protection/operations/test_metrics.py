"""Seconds per resource and API calls per service in an operation's
result (protection/metrics.py)."""

import itertools
import threading

from protection.operations import metrics
from protection.model.progress import ProgressEvent
from protection.model.resource import Resource
from tests.fakes import fake_cloud
from tests.fakes.fake_cloud import ROOTS
from tests.fakes.service import make_service

VOL = Resource("OS::Cinder::Volume", "v1")
SRV = Resource("OS::Nova::Server", "s1")


def test_seconds_from_running_to_done_per_resource():
    clock = itertools.count(10).__next__
    timings = metrics.ResourceTimings(clock=clock)
    timings(ProgressEvent("restore", VOL, "running"))          # 10
    timings(ProgressEvent("restore", SRV, "running"))          # 11
    timings(ProgressEvent("restore", VOL, "step", step="x"))   # no clock
    timings(ProgressEvent("restore", VOL, "done"))             # 12
    timings(ProgressEvent("restore", None, "started"))
    assert timings.as_dict() == {"OS::Cinder::Volume#v1": 2}   # s1 unfinished


class Session:
    def __init__(self):
        self.sent = []

    def request(self, url, method, **kwargs):
        self.sent.append((method, url))
        return "response"


class Conn:
    def __init__(self):
        self.session = Session()


def test_api_calls_are_counted_per_service_and_the_session_restored():
    conn = Conn()
    with metrics.api_calls(conn) as calls:
        workers = [threading.Thread(target=conn.session.request, args=(
            "/servers", "GET"), kwargs={"endpoint_filter": {
                "service_type": "compute"}}) for _ in range(20)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert conn.session.request("/v3/auth/tokens", "POST") == "response"
    assert dict(calls) == {"compute": 20, "auth+discovery": 1}
    assert len(conn.session.sent) == 21
    assert "request" not in vars(conn.session)
    conn.session.request("/servers", "GET")
    assert dict(calls) == {"compute": 20, "auth+discovery": 1}


def test_a_connection_without_a_session_counts_nothing():
    with metrics.api_calls(object()) as calls:
        pass
    assert calls == {}


def test_the_restore_result_has_each_resource_s_seconds(tmp_path):
    cloud = fake_cloud.app_cloud()
    service = make_service(tmp_path)
    checkpoint_id = service.protect(cloud, "app", ROOTS).checkpoint_id
    result = service.restore(checkpoint_id, cloud).to_dict()
    assert set(result["timings"]) == set(result["resources"])
    assert all(seconds >= 0 for seconds in result["timings"].values())
