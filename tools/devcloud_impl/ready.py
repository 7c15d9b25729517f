"""Readiness: every service must answer a real, authenticated API call.

A port that accepts connections is not enough: Nova needs its compute host
up *and* mapped to the cell, Cinder its volume backend reporting a pool,
Heat its engine answering RPC, Swift its account server behind the proxy.
"""

import subprocess
import time

from . import procs
from .identity import admin_connection
from .ports import url

PLACEMENT_HDR = {"OpenStack-API-Version": "placement 1.0"}


def _get(sess, u, **kw):
    r = sess.get(u, raise_exc=False, timeout=10, **kw)
    if r.status_code >= 300:
        raise RuntimeError("GET %s -> %d" % (u, r.status_code))
    return r.json() if r.content else {}


def _services_up(body, key, binaries):
    states = {s["binary"]: s for s in body[key]}
    missing = [
        b
        for b in binaries
        if b not in states
        or states[b]["state"] != "up"
        or states[b]["status"] != "enabled"
    ]
    if missing:
        raise RuntimeError("not up: %s" % ", ".join(missing))


class Checks:
    def __init__(self, ctx):
        self.ctx = ctx
        self.conn = admin_connection()
        self.sess = self.conn.session
        self.project = None
        self._mapped = False

    def _pid(self):
        if self.project is None:
            self.project = self.sess.get_project_id()
        return self.project

    def keystone(self):
        _get(self.sess, url("keystone", "/v3/projects"))

    def glance(self):
        _get(self.sess, url("glance", "/v2/images"))

    def placement(self):
        body = _get(
            self.sess,
            url("placement", "/resource_providers"),
            headers=PLACEMENT_HDR,
        )
        if not body.get("resource_providers"):
            raise RuntimeError("no compute resource provider yet")

    def neutron(self):
        _get(self.sess, url("neutron", "/v2.0/networks"))

    def nova(self):
        body = _get(self.sess, url("nova", "/v2.1/os-services"))
        _services_up(
            body,
            "services",
            ["nova-conductor", "nova-scheduler", "nova-compute"],
        )
        hyp = _get(self.sess, url("nova", "/v2.1/os-hypervisors"))
        if not hyp.get("hypervisors"):
            raise RuntimeError("no hypervisor yet")
        if not self._mapped:
            # the scheduler maps new hosts every 2 s; check it did
            out = subprocess.run(
                [
                    self.ctx.layout.vbin("nova-manage"),
                    "--config-file",
                    str(self.ctx.layout.etc_for("nova") / "nova.conf"),
                    "cell_v2",
                    "list_hosts",
                ],
                capture_output=True,
                text=True,
                timeout=60,
                env=self.ctx.env(),
            )
            if "devcloud" not in out.stdout:
                raise RuntimeError("compute host not mapped to cell1 yet")
            self._mapped = True

    def cinder(self):
        base = "/v3/%s" % self._pid()
        body = _get(self.sess, url("cinder", base + "/os-services"))
        _services_up(
            body,
            "services",
            ["cinder-scheduler", "cinder-volume", "cinder-backup"],
        )
        pools = _get(
            self.sess, url("cinder", base + "/scheduler-stats/get_pools")
        )
        if not pools.get("pools"):
            raise RuntimeError("volume backend reports no pool yet")

    def heat(self):
        _get(self.sess, url("heat", "/v1/%s/stacks" % self._pid()))

    def swift(self):
        r = self.sess.head(
            url("swift-proxy", "/v1/AUTH_%s" % self._pid()),
            raise_exc=False,
            timeout=10,
        )
        if r.status_code >= 300:
            raise RuntimeError("HEAD account -> %d" % r.status_code)


ORDER = [
    "keystone",
    "glance",
    "placement",
    "neutron",
    "nova",
    "cinder",
    "heat",
    "swift",
]


def wait_all(ctx, proc_names, timeout=300.0):
    """Poll every check until all pass; fail early if a process died."""
    checks = Checks(ctx)
    pending = list(ORDER)
    errors = {}
    deadline = time.monotonic() + timeout
    while pending:
        for name in proc_names:
            if not procs.alive(ctx.layout, name):
                raise RuntimeError(
                    "%s died during boot; log: %s\n%s"
                    % (
                        name,
                        ctx.layout.log(name),
                        procs.tail(ctx.layout.log(name)),
                    )
                )
        for name in list(pending):
            try:
                getattr(checks, name)()
                pending.remove(name)
                errors.pop(name, None)
            except Exception as exc:  # not ready yet: keep polling
                errors[name] = str(exc)[:300]
        if not pending:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(
                "not ready after %ds: %s"
                % (
                    timeout,
                    "; ".join("%s: %s" % (n, errors.get(n)) for n in pending),
                )
            )
        time.sleep(1)
    checks.conn.close()
