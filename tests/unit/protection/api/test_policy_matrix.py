"""Every route, for every persona, on its own project's objects, another
project's and on checkpoints from before projects were recorded: the
status each gets (issue #22: another project's object is 404, never 403).

Personas (tests/fakes/api.py): reader, member and manager of proj-a,
admin (of proj-admin), other (a member of proj-b). Targets: ``own``
(proj-a's checkpoint, operation and plan), ``theirs`` (proj-b's),
``legacy`` (no project: a plan of the embedded CLI). Running a plan acts
with the caller's token, so only a token of the plan's project may (an
admin of another project: 409). An abort of an operation that already
ended is 409 for whoever may abort it: authorised, and refused for what
it is; so is adopting a checkpoint that already has a project, and an
admin's delete of a project's checkpoint (its token cannot see the
project's cloud objects, issue #22 item 3). A checkpoint without one is
visible to whoever may adopt it (a manager), nobody else but admins.
"""

import pytest

from tests.fakes import api as fake_api

PERSONAS = ("reader", "member", "manager", "admin", "other")

# route -> (method, path, body); {checkpoint} and {operation} are the
# target's.
ROUTES = {
    "version": ("GET", "/v1", None),
    "openapi": ("GET", "/v1/openapi.json", None),
    "list resources": ("GET", "/v1/resources", None),
    "show resource": ("GET", "/v1/resources/Test::Network/net", None),
    "protect": ("POST", "/v1/checkpoints", {
        "name": "n", "resources": [{"type": "Test::Network", "id": "net"}]}),
    "list checkpoints": ("GET", "/v1/checkpoints", None),
    "list operations": ("GET", "/v1/operations", None),
    "show checkpoint": ("GET", "/v1/checkpoints/{checkpoint}", None),
    "delete checkpoint": ("DELETE", "/v1/checkpoints/{checkpoint}", None),
    "verify checkpoint": ("POST", "/v1/checkpoints/{checkpoint}/verify",
                          None),
    "adopt checkpoint": ("POST", "/v1/checkpoints/{checkpoint}/adopt",
                         None),
    "restore": ("POST", "/v1/restores", {"checkpoint_id": "{checkpoint}"}),
    "dry-run restore": ("POST", "/v1/restores", {
        "checkpoint_id": "{checkpoint}", "dry_run": True}),
    "show operation": ("GET", "/v1/operations/{operation}", None),
    "abort operation": ("POST", "/v1/operations/{operation}/abort", None),
    "resume operation": ("POST", "/v1/operations/{operation}/resume",
                         None),
    "list plans": ("GET", "/v1/plans", None),
    "create plan": ("POST", "/v1/plans", {
        "name": "nightly", "resources": [{"type": "Test::Network",
                                          "id": "net"}], "keep": 3}),
    "show plan": ("GET", "/v1/plans/{plan}", None),
    "update plan": ("PATCH", "/v1/plans/{plan}", {"keep": 5}),
    "delete plan": ("DELETE", "/v1/plans/{plan}", None),
    "run plan": ("POST", "/v1/plans/{plan}/run", None),
}

#                          reader member manager admin other
PROJECTLESS = {
    "version":            (200,   200,   200,    200,  200),
    "openapi":            (200,   200,   200,    200,  200),
    "list resources":     (200,   200,   200,    200,  200),
    "show resource":      (200,   200,   200,    200,  200),
    "protect":            (403,   202,   202,    202,  202),
    "list checkpoints":   (200,   200,   200,    200,  200),
    "list operations":    (200,   200,   200,    200,  200),
    "list plans":         (200,   200,   200,    200,  200),
    "create plan":        (403,   201,   201,    201,  201),
}

#                                     reader member manager admin other
ON_OBJECTS = {
    ("show checkpoint", "own"):       (200,   200,   200,    200,  404),
    ("show checkpoint", "theirs"):    (404,   404,   404,    200,  200),
    ("show checkpoint", "legacy"):    (404,   404,   404,    200,  404),
    # An admin's token acts in proj-admin, where proj-a's backups are
    # invisible: its delete would orphan them, so it is refused (409).
    ("delete checkpoint", "own"):     (403,   202,   202,    409,  404),
    ("delete checkpoint", "theirs"):  (404,   404,   404,    409,  202),
    ("delete checkpoint", "legacy"):  (404,   404,   404,    202,  404),
    ("verify checkpoint", "own"):     (403,   202,   202,    202,  404),
    ("verify checkpoint", "theirs"):  (404,   404,   404,    202,  202),
    ("verify checkpoint", "legacy"):  (404,   404,   404,    202,  404),
    ("adopt checkpoint", "own"):      (403,   403,   409,    409,  404),
    ("adopt checkpoint", "theirs"):   (404,   404,   404,    409,  403),
    ("adopt checkpoint", "legacy"):   (404,   404,   200,    200,  404),
    ("restore", "own"):               (403,   202,   202,    202,  404),
    ("restore", "theirs"):            (404,   404,   404,    202,  202),
    ("restore", "legacy"):            (404,   404,   404,    202,  404),
    ("dry-run restore", "own"):       (403,   200,   200,    200,  404),
    ("dry-run restore", "theirs"):    (404,   404,   404,    200,  200),
    ("dry-run restore", "legacy"):    (404,   404,   404,    200,  404),
    ("show operation", "own"):        (200,   200,   200,    200,  404),
    ("show operation", "theirs"):     (404,   404,   404,    200,  200),
    ("show operation", "legacy"):     (404,   404,   404,    200,  404),
    ("abort operation", "own"):       (403,   409,   409,    409,  404),
    ("abort operation", "theirs"):    (404,   404,   404,    409,  409),
    ("abort operation", "legacy"):    (404,   404,   404,    409,  404),
    ("resume operation", "own"):      (403,   409,   409,    409,  404),
    ("resume operation", "theirs"):   (404,   404,   404,    409,  409),
    ("resume operation", "legacy"):   (404,   404,   404,    409,  404),
    ("show plan", "own"):             (200,   200,   200,    200,  404),
    ("show plan", "theirs"):          (404,   404,   404,    200,  200),
    ("show plan", "legacy"):          (404,   404,   404,    200,  404),
    ("update plan", "own"):           (403,   200,   200,    200,  404),
    ("update plan", "theirs"):        (404,   404,   404,    200,  200),
    ("update plan", "legacy"):        (404,   404,   404,    200,  404),
    ("delete plan", "own"):           (403,   204,   204,    204,  404),
    ("delete plan", "theirs"):        (404,   404,   404,    204,  204),
    ("delete plan", "legacy"):        (404,   404,   404,    204,  404),
    ("run plan", "own"):              (403,   202,   202,    409,  404),
    ("run plan", "theirs"):           (404,   404,   404,    409,  202),
    ("run plan", "legacy"):           (404,   404,   404,    409,  404),
}

# They change their target.
FRESH = ("delete checkpoint", "adopt checkpoint", "update plan",
         "delete plan", "run plan")
OWNERS = {"own": "proj-a", "theirs": "proj-b", "legacy": None}


def _world(path):
    api = fake_api.Api(path)
    targets = {name: api.protect(project, f"user-of-{name}")
               + (api.plan(project, f"user-of-{name}"),)
               for name, project in OWNERS.items()}
    return api, targets


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One world for the routes that delete nothing."""
    return _world(tmp_path_factory.mktemp("matrix") / "bank")


def _cases(table):
    for key, statuses in table.items():
        for persona, status in zip(PERSONAS, statuses):
            yield pytest.param(key, persona, status,
                               id=f"{key}-{persona}".replace(" ", "_")
                               if isinstance(key, str) else
                               f"{key[0]}-{key[1]}-{persona}"
                               .replace(" ", "_"))


def _call(api, route, persona, target=None):
    method, path, body = ROUTES[route]
    operation_id, checkpoint_id, plan_id = target or (None, None, None)
    path = path.format(checkpoint=checkpoint_id, operation=operation_id,
                       plan=plan_id)
    if body is not None and "checkpoint_id" in body:
        body = dict(body, checkpoint_id=checkpoint_id)
    return api.call(method, path, persona, body)


@pytest.mark.parametrize("route,persona,expected",
                         list(_cases(PROJECTLESS)))
def test_routes_without_an_object(shared, route, persona, expected):
    api, _targets = shared
    resp = _call(api, route, persona)
    assert resp.status_code == expected, resp.text


@pytest.mark.parametrize("key,persona,expected", list(_cases(ON_OBJECTS)))
def test_routes_on_an_object(shared, tmp_path, key, persona, expected):
    route, target = key
    api, targets = _world(tmp_path / "bank") \
        if route in FRESH else shared
    resp = _call(api, route, persona, targets[target])
    assert resp.status_code == expected, resp.text
    if expected == 404:
        # Not disclosed: the answer of an id that does not exist.
        assert "does not exist" in resp.json["error"]["message"]


def test_every_route_of_the_table_is_in_the_matrix():
    from protection.api import routes
    covered = {(ROUTES[r][0], ROUTES[r][1]) for r in ROUTES}
    templates = {(m, p.replace("{checkpoint}", "{checkpoint_id}")
                  .replace("{operation}", "{operation_id}")
                  .replace("{plan}", "{plan_id}")
                  .replace("Test::Network/net",
                           "{resource_type}/{resource_id}"))
                 for m, p in covered}
    assert {(r.method, r.path) for r in routes.ROUTES} <= templates
