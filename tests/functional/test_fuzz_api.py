"""Fuzz every route of the protection API with hostile path segments,
query strings and JSON bodies: a mistake is a 4xx naming the field,
never a 500 (issue #23, item 9). Inputs tried are counted and printed at
the session's end."""

import json
import urllib.parse

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from protection.api import routes
from tests.fakes import api as fake_api
from tests.fakes import fuzz

pytestmark = pytest.mark.fuzz


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    made = fake_api.Api(tmp_path_factory.mktemp("fuzz-api") / "bank")
    made.operation_id, made.checkpoint_id = made.protect("proj-a", "u")
    made.plan_id = made.plan("proj-a", "u")
    return made


def _route_id(route):
    return f"{route.method} {route.path}"


def _path(route, api, value):
    """The route's path with ``value`` (quoted) as its first parameter
    and real ids for the others."""
    real = {"checkpoint_id": api.checkpoint_id,
            "operation_id": api.operation_id, "plan_id": api.plan_id,
            "resource_type": "Test::Network", "resource_id": "net"}
    path = route.path
    for i, name in enumerate(route.params):
        text = value if i == 0 else real[name]
        path = path.replace("{" + name + "}",
                            urllib.parse.quote(text, safe=""))
    return path


def assert_a_clear_answer(resp, where):
    assert resp.status_code < 500 or resp.status_code in (502, 503), \
        f"{where}: {resp.status_code} {resp.text[:300]}"
    assert resp.content_type == "application/json", where
    if resp.status_code >= 400:
        error = resp.json["error"]
        assert error["code"] == resp.status_code, where
        assert "Traceback" not in error["message"], where


ROUTES_WITH_PARAMS = [r for r in routes.ROUTES if r.params]
ROUTES_WITH_BODY = [r for r in routes.ROUTES if r.body is not None]
ROUTES_WITH_QUERY = [r for r in routes.ROUTES if r.query is not None]


@pytest.mark.parametrize("route", ROUTES_WITH_PARAMS, ids=_route_id)
@settings(max_examples=30)
@given(value=fuzz.text(allow_nul=True).filter(bool))
def test_a_hostile_path_segment_is_4xx(api, route, value):
    fuzz.count("api: path " + _route_id(route))
    path = _path(route, api, value)
    resp = api.call(route.method, path,
                    body={} if route.body is not None else None)
    assert_a_clear_answer(resp, f"{route.method} {path!r}")


def _query_values():
    return st.dictionaries(
        st.one_of(st.sampled_from(["limit", "marker", "sort", "force",
                                   "all_projects", "status", "name",
                                   "plan_id", "type", "kind",
                                   "checkpoint_id"]),
                  fuzz.text(allow_nul=True)),
        st.one_of(st.sampled_from(fuzz.HUGE_NUMBERS), fuzz.text(True)),
        max_size=3)


@pytest.mark.parametrize("route", ROUTES_WITH_QUERY, ids=_route_id)
@given(query=_query_values())
def test_a_hostile_query_is_4xx_naming_it(api, route, query):
    fuzz.count("api: query " + _route_id(route))
    path = _path(route, api, api.checkpoint_id) + "?" + \
        urllib.parse.urlencode(query)
    resp = api.call(route.method, path, persona="admin")
    assert_a_clear_answer(resp, f"{route.method} {path!r}")
    if resp.status_code == 400:
        message = resp.json["error"]["message"]
        assert any(name in message for name in query), message


def _valid_bodies(api):
    ref = {"type": "Test::Network", "id": "net"}
    return {"/v1/checkpoints": {"name": "n", "resources": [ref],
                                "parameters": {}},
            "/v1/restores": {"checkpoint_id": api.checkpoint_id,
                             "parameters": {}, "only": [ref],
                             "exclude": [], "on_failure": "keep",
                             "dry_run": True},
            "/v1/checkpoints/{checkpoint_id}/adopt": {"project_id": "p"},
            "/v1/plans": {"name": "nightly", "resources": [ref],
                          "parameters": {}, "keep": 2},
            "/v1/plans/{plan_id}": {"name": "weekly", "keep": 3}}


def _one_field_spoiled(valid):
    """A valid body with one field (or one parameter of a resource
    type) given a hostile value."""
    keys = sorted(valid) + ["parameters/Test::Network",
                            "parameters/Test::Network/mode"]

    def spoil(key, value):
        body = json.loads(json.dumps(valid))
        *parents, last = key.split("/")
        here = body
        for name in parents:
            here = here.setdefault(name, {})
        here[last] = value
        return body

    return st.builds(spoil, st.sampled_from(keys), fuzz.json_values())


def _bodies(route, valid):
    """Bodies near the schema (one field of a valid body spoiled, or
    fields with hostile JSON values) and far from it (any JSON, deep
    nesting, not JSON at all)."""
    fields = sorted(route.body.get("properties", {}))
    near = st.one_of(
        _one_field_spoiled(valid),
        st.dictionaries(st.sampled_from(fields or ["x"]),
                        fuzz.json_values(), max_size=4))
    raw = st.one_of(
        st.just(fuzz.deep(100000)), st.just("{" * 3000),
        st.just('{"name": 1e999999}'), st.just("\xff\xfe"),
        st.just("[" * 50 + "]" * 50),
        st.binary(max_size=64).map(lambda b: b.decode("latin-1")))
    return st.one_of(near.map(json.dumps), fuzz.json_values().map(
        json.dumps), raw)


@pytest.mark.parametrize("route", ROUTES_WITH_BODY, ids=_route_id)
@given(data=st.data())
def test_a_hostile_body_is_4xx_naming_the_field(api, route, data):
    fuzz.count("api: body " + _route_id(route))
    body = data.draw(_bodies(route, _valid_bodies(api)[route.path]))
    first = route.params[0] if route.params else "checkpoint_id"
    path = _path(route, api, getattr(api, first))
    resp = api.call(route.method, path, persona="admin",
                    body=body.encode("utf-8", "surrogatepass"))
    assert_a_clear_answer(resp, f"{route.method} {path} {body[:200]!r}")
