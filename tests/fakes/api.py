"""The protection API over a real filesystem bank and the fake plugins,
with a fake keystonemiddleware: each token names a persona, whose
identity headers are set the way auth_token sets them.

Projects ``proj-a`` and ``proj-b`` each have their own fake cloud; a
request's connection is its project's cloud (as the caller's token would
give), so what a restore creates is visible in the caller's cloud.
"""

import dataclasses
import json
import uuid

import webob
from oslo_config import cfg

from protection import config
from protection.api import opts
from protection.api import wsgi
from protection.api import workers
from protection.bank.filesystem import FileSystemBank
from protection.operations import jobboard
from protection.checkpoint import store as cp
from protection.plugin.registry import PluginRegistry
from protection.service import ProtectionService
from tests.fakes import fake_cloud
from tests.fakes.trusts import FakeTrusts

# Keystone puts implied roles in the token: admin > manager > member >
# reader.
IMPLIED = {"reader": ["reader"], "member": ["member", "reader"],
           "manager": ["manager", "member", "reader"],
           "admin": ["admin", "manager", "member", "reader"]}


@dataclasses.dataclass(frozen=True)
class Persona:
    project_id: str
    user_id: str
    role: str


PERSONAS = {
    "reader": Persona("proj-a", "user-reader-a", "reader"),
    "member": Persona("proj-a", "user-member-a", "member"),
    "manager": Persona("proj-a", "user-manager-a", "manager"),
    "admin": Persona("proj-admin", "user-admin", "admin"),
    "other": Persona("proj-b", "user-member-b", "member"),
}


class FakeAuthToken:
    """What keystonemiddleware's auth_token does, for tests: the token
    (``X-Auth-Token``) is a persona's name; unknown or missing is 401."""

    def __init__(self, app, conf):
        self.app = app

    def __call__(self, environ, start_response):
        for key in list(environ):
            if key.startswith("HTTP_X_") and key != "HTTP_X_AUTH_TOKEN":
                del environ[key]      # auth_token drops forged headers
        persona = PERSONAS.get(environ.get("HTTP_X_AUTH_TOKEN"))
        if persona is None:
            resp = webob.Response(status=401, text="Authentication "
                                  "required", content_type="text/plain")
            resp.headers["WWW-Authenticate"] = "Keystone uri='http://ks'"
            return resp(environ, start_response)
        environ.update({
            "HTTP_X_IDENTITY_STATUS": "Confirmed",
            "HTTP_X_PROJECT_ID": persona.project_id,
            "HTTP_X_USER_ID": persona.user_id,
            "HTTP_X_ROLES": ",".join(IMPLIED[persona.role]),
        })
        return self.app(environ, start_response)


class InlinePool(workers.WorkerPool):
    """Runs each operation at once, in the request (tests need no
    waiting); the answer is still the 202 of a started operation."""

    def __init__(self):
        super().__init__(1, 0)

    def submit(self, operation, run):
        try:
            run()
        except Exception:   # noqa: BLE001 - as a worker: logged, kept
            pass
        return workers.Submitted(operation.kind, operation.id)


def api_conf(**overrides):
    conf = cfg.ConfigOpts()
    opts.register(conf)
    conf = config.load_config([], conf=conf)
    for name, value in overrides.items():
        conf.set_override(name, value, group="api")
    return conf


class Api:
    """The WSGI app and what is behind it."""

    def __init__(self, bank_path, pool=None, board=None, **overrides):
        """``board``: a jobboard (what Poster uses of one): the API then
        posts its operations, acting with trusts (``self.trusts``)."""
        self.conf = api_conf(**overrides)
        self.conf.set_override(
            "connection", f"sqlite:///{bank_path}.db", group="persistence")
        self.clouds = {p.project_id: fake_cloud.app_cloud()
                       for p in PERSONAS.values()}
        for project_id, cloud in self.clouds.items():
            cloud.current_project_id = project_id
        self.pool = pool or InlinePool()
        self.trusts = FakeTrusts(self.clouds)
        self.service = ProtectionService(
            self.conf, PluginRegistry([p() for p in fake_cloud.ALL]),
            FileSystemBank(str(bank_path)), executor=self.pool,
            trusts=self.trusts)
        if board is not None:
            self.service.poster = jobboard.Poster(self.conf,
                                                  self.service.stores)
            self.service.poster._board = board
        self.app = wsgi.make_app(
            self.conf, self.service,
            connect=lambda environ, conf: self.clouds[
                environ["HTTP_X_PROJECT_ID"]],
            auth=FakeAuthToken, pool=self.pool)

    def call(self, method, path, persona="member", body=None, headers=None):
        request = webob.Request.blank(path, method=method)
        if persona is not None:
            request.headers["X-Auth-Token"] = persona
        request.headers.update(headers or {})
        if body is not None:
            request.body = body if isinstance(body, bytes) else \
                json.dumps(body).encode()
            request.content_type = "application/json"
        return request.get_response(self.app)

    def protect(self, project_id=None, user_id=None, roots=None):
        """A checkpoint made by the service directly (owned by
        ``project_id``, none: a checkpoint from before format 2)."""
        cloud = self.clouds.get(project_id) or fake_cloud.app_cloud()
        result = self.service.protect(
            cloud, "app", roots or [("Test::Network", "net")],
            tenancy=cp.Tenancy(project_id, user_id))
        return result.operation_id, self.service.operation(
            result.operation_id).checkpoint

    def plan(self, project_id=None, user_id=None):
        """A plan of ``project_id`` (as the API makes them), or, with
        none, one of the embedded CLI (named, with a clouds.yaml cloud);
        its id."""
        settings = {"resources": [["Test::Network", "net"]],
                    "parameters": {}, "schedule": None, "keep": 2,
                    "keep_days": None, "cloud": None}
        if project_id is None:
            name = f"cli-plan-{len(self.service.stores.plans.list())}"
            self.service.stores.plans.create(
                name, dict(settings, cloud="devcloud"), None)
            return name
        name = str(uuid.uuid4())
        self.service.stores.plans.create(name, settings, None, owner={
            "project_id": project_id, "user_id": user_id,
            "title": "nightly"})
        return name
