"""The OpenAPI document served at /v1/openapi.json names every route of
the route table, with its body schema and parameters."""

import pytest

from protection.api import routes
from tests.fakes import api as fake_api


@pytest.fixture(scope="module")
def document(tmp_path_factory):
    api = fake_api.Api(tmp_path_factory.mktemp("openapi") / "bank")
    resp = api.call("GET", "/v1/openapi.json", "reader")
    assert resp.status_code == 200
    return resp.json


@pytest.mark.parametrize("route", routes.ROUTES,
                         ids=lambda r: f"{r.method} {r.path}")
def test_every_route_is_documented(document, route):
    operation = document["paths"][route.path][route.method.lower()]
    assert operation["summary"] == route.summary
    names = {p["name"] for p in operation["parameters"]}
    assert set(route.params) <= names
    assert set((route.query or {}).get("properties", {})) <= names
    for code in route.responses:
        assert str(code) in operation["responses"]
    if route.body is not None:
        assert operation["requestBody"]["content"]["application/json"][
            "schema"] == route.body


def test_nothing_is_documented_that_is_not_routed(document):
    routed = {(r.path, r.method.lower()) for r in routes.ROUTES}
    documented = {(path, method) for path, methods in
                  document["paths"].items() for method in methods}
    assert documented == routed
    assert document["openapi"].startswith("3.")
