"""The connection a request acts with: the caller's token, and the
services' version documents shared between requests."""

from unittest import mock

from keystoneauth1 import discover

from protection.api import connection

URL = "http://cinder.example/v3/"


def _environ():
    plugin = mock.Mock(has_user_token=True)
    return {connection.TOKEN_AUTH: plugin}


def _conf():
    return mock.Mock(**{"timeouts.request": 60, "api.region_name": "r1"})


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_two_requests_ask_a_service_for_its_versions_once(monkeypatch):
    monkeypatch.setattr(connection, "DISCOVERY", connection.DiscoveryCache())
    fetched = []

    def version_data(session, url, authenticated=None):
        fetched.append(url)
        return [{"id": "v3.0", "status": "CURRENT", "links": []}]
    monkeypatch.setattr(discover, "get_version_data", version_data)
    for _request in range(2):
        conn = connection.connect(_environ(), _conf())
        discover.get_discovery(conn.session, URL)
    assert fetched == [URL]


def test_an_entry_is_fetched_again_after_its_ttl():
    clock = FakeClock()
    cache = connection.DiscoveryCache(ttl=300, clock=clock)
    found = object()
    cache[URL] = found
    clock.now += 299
    assert cache.get(URL) is found
    # keystoneauth writes what it found back after every hit: no younger
    cache[URL] = found
    clock.now += 2
    assert cache.get(URL) is None
    again = object()
    cache[URL] = again
    clock.now += 299
    assert cache.get(URL) is again


def test_nothing_cached_is_nothing_found():
    assert connection.DiscoveryCache().get(URL) is None
