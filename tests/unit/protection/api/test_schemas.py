"""Request schemas: what the fuzz suite found they let through."""

import pytest

from tests.fakes import api as fake_api

REF = {"type": "Test::Network", "id": "net"}


@pytest.fixture
def api(tmp_path):
    return fake_api.Api(tmp_path / "bank")


@pytest.mark.parametrize("entry", [None, [1], "mode=full", 7])
def test_a_parameters_entry_that_is_not_an_object_is_400(api, entry):
    # found by tests/functional/test_fuzz_api.py: it was a 500
    resp = api.call("POST", "/v1/checkpoints", body={
        "name": "n", "resources": [REF],
        "parameters": {"Test::Network": entry}})
    assert resp.status_code == 400, resp.text
    assert "parameters/Test::Network" in resp.json["error"]["message"]
