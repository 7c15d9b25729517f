"""Bring the cloud up and down: the order of things.

up:  configs -> MariaDB/epmd/RabbitMQ -> (new state: databases, schemas,
     rings, all in parallel; Keystone starts and gets its content as soon as
     its schema exists) -> bind mount for Cinder -> every other service ->
     nova-compute once the conductor's queue exists -> readiness -> flavors,
     public network, volume type, quotas (new state) -> clouds.yaml ->
     stackvault's protection API (stackvault_api.py, also ``api``).
down: the protection API, services, then RabbitMQ/epmd/MariaDB, then the
      bind mount.
"""

import hashlib
import json
import os
import subprocess
import threading
import time

from . import db as dbmod
from . import paths, procs, rabbit, stackvault_api, stackvault_services
from .context import Ctx
from .services import modules, nova, swift

INFRA = ["mysql", "epmd", "rabbitmq"]

SUDO_SHIM = """#!/bin/sh
# devcloud: every service runs as root, so sudo only has to drop its own
# options and the "<project>-rootwrap <conf>" prefix, then run the command.
while [ $# -gt 0 ]; do
  case "$1" in
    -E|-H|-n|-S) shift;; --) shift; break;; -*) shift;; *) break;;
  esac
done
case "$1" in *-rootwrap) shift; shift;; esac
case "$1" in *-rootwrap-daemon) exit 1;; esac
exec "$@"
"""


# Cinder's NFS driver refuses to start unless a mount.nfs command exists; it
# never runs it here, because the share's mount point is already a bind mount.
MOUNT_NFS_STUB = """#!/bin/sh
echo "devcloud: no NFS client here; the share is a local bind mount" >&2
exit 1
"""


# -- settings of one state directory ------------------------------------------
def settings(layout):
    path = layout.root / "devcloud.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def save_settings(layout, data):
    (layout.root / "devcloud.json").write_text(
        json.dumps(data, indent=1) + "\n"
    )


def make_ctx(layout, db_name=None):
    saved = settings(layout).get("db")
    name = db_name or saved or os.environ.get("DEVCLOUD_DB") or "mysql"
    if saved and db_name and saved != db_name:
        raise SystemExit(
            "devcloud: this state uses the %s database; run "
            "'tools/devcloud reset' before switching to %s" % (saved, db_name)
        )
    return Ctx(layout, dbmod.backend(name, layout))


def all_procs(ctx):
    out = list(ctx.db.procs()) + rabbit.procs_for(ctx.layout)
    for m in modules():
        out.extend(m.procs(ctx))
    return out


def service_names(ctx):
    return [p.name for p in all_procs(ctx)]


# -- the bind mount that stands in for an NFS server --------------------------
def mount_dir(ctx):
    return (
        ctx.layout.nfs_mounts / hashlib.md5(ctx.nfs_share.encode()).hexdigest()
    )


def _mounted(path):
    with open("/proc/mounts") as f:
        return any(line.split()[1] == str(path) for line in f)


def ensure_mount(ctx):
    target = mount_dir(ctx)
    target.mkdir(parents=True, exist_ok=True)
    if not _mounted(target):
        subprocess.run(
            ["mount", "--bind", str(ctx.layout.nfs_export), str(target)],
            check=True,
            timeout=30,
        )


def unmount_all(layout):
    """Unmount every mount below the state directory (deepest first)."""
    root = str(layout.root) + "/"
    with open("/proc/mounts") as f:
        points = [ln.split()[1] for ln in f
                  if ln.split()[1].startswith(root)]
    for p in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", p], timeout=30)


# -- only one devcloud per machine: the ports are fixed ----------------------
def _active_file():
    return paths.cache_dir() / "active-state"


def take_over(layout):
    """Stop a devcloud of another state directory (its own pid files)."""
    f = _active_file()
    try:
        other = f.read_text().strip()
    except OSError:
        other = ""
    if other and other != str(layout.root) and os.path.isdir(other):
        olayout = paths.Layout(other)
        octx = make_ctx(olayout)
        running = [n for n in service_names(octx) if procs.alive(olayout, n)]
        if running:
            print(
                "devcloud: stopping the devcloud of %s first (same ports)"
                % other,
                flush=True,
            )
            stop(octx)
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(str(layout.root) + "\n")


# -- up ----------------------------------------------------------------------
def configure(ctx):
    layout = ctx.layout
    layout.makedirs()
    for name, text in (("sudo", SUDO_SHIM), ("mount.nfs", MOUNT_NFS_STUB)):
        (layout.bin / name).write_text(text)
        (layout.bin / name).chmod(0o755)
    ctx.db.write_config()
    rabbit.write_config(layout)
    for m in modules():
        m.configure(ctx)


def _run_all(ctx, argvs, log_name):
    """Run commands in order; an entry may be (argv, accepted exit codes)."""
    env = ctx.env()
    for argv in argvs:
        ok = (0,)
        if isinstance(argv, tuple):
            argv, ok = argv
        rc = procs.run(
            argv, env, ctx.layout.log(log_name), timeout=600, check=False
        )
        if rc not in ok:
            raise RuntimeError(
                "%s failed with exit %d (log: %s)\n%s"
                % (
                    " ".join(map(str, argv[:4])),
                    rc,
                    ctx.layout.log(log_name),
                    procs.tail(ctx.layout.log(log_name)),
                )
            )


def _parallel(jobs):
    """Run callables in threads; re-raise the first failure."""
    errors = []

    def wrap(fn):
        try:
            fn()
        except BaseException as exc:  # noqa: B902 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(fn,)) for fn in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def _port_taken(port):
    import socket
    from .ports import HOST

    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False


def _start(ctx, proc_list):
    env = ctx.env()
    for p in proc_list:
        if (
            p.port
            and not procs.alive(ctx.layout, p.name)
            and _port_taken(p.port)
        ):
            raise RuntimeError(
                "port %d (for %s) is taken by a process devcloud did not "
                "start "
                "from %s; stop it first" % (p.port, p.name, ctx.layout.root)
            )
        procs.start(ctx.layout, p, env)


def up(ctx, timings, ready_timeout=300.0):
    layout = ctx.layout
    t0 = time.monotonic()
    take_over(layout)
    configure(ctx)
    fresh = not layout.marker("schema").exists()
    byname = {p.name: p for p in all_procs(ctx)}

    # infrastructure
    if fresh:
        ctx.db.init_datadir(ctx.env())
    _start(ctx, ctx.db.procs() + rabbit.procs_for(layout))
    ctx.db.wait()
    if fresh:
        ctx.db.create_databases(ctx.env())
    stackvault_services.ensure(ctx)
    rabbit.wait(layout)

    keystone = byname["keystone"]

    def keystone_phase():
        if fresh:
            _run_all(ctx, modules()[0].db_sync(ctx), "keystone-manage")
            ctx.db.after_schema("keystone")
        _start(ctx, [keystone])
        _wait_http(ctx, "keystone", "/v3")
        if not layout.marker("identity").exists():
            from . import identity

            identity.setup()
            layout.marker("identity").write_text("")

    jobs = [keystone_phase]
    if fresh:
        for m in modules()[1:]:
            cmds = m.db_sync(ctx)
            if cmds:
                dbs = {"nova": ["nova_api", "nova_cell0", "nova"]}.get(
                    m.__name__.rsplit(".", 1)[1],
                    [m.__name__.rsplit(".", 1)[1]],
                )
                jobs.append(_sync_job(ctx, m, cmds, dbs))
        jobs.append(lambda: _rings(ctx))
    _parallel(jobs)
    if fresh:
        layout.marker("schema").write_text("")
    timings["schema+keystone"] = time.monotonic() - t0

    # every other service
    ensure_mount(ctx)
    rest = [
        p
        for n, p in byname.items()
        if n not in INFRA + ["keystone", nova.COMPUTE]
    ]
    _start(ctx, rest)
    _wait_queue(ctx, "conductor", 120)
    _start(ctx, [byname[nova.COMPUTE]])
    from . import ready

    ready.wait_all(ctx, list(byname), timeout=ready_timeout)
    if not layout.marker("resources").exists():
        from . import resources

        resources.setup()
        layout.marker("resources").write_text("")
    write_clouds_yaml(layout)
    try:
        if stackvault_api.ensure(ctx) is None:
            print("devcloud: no stackvault-api installed ('make install'): "
                  "the protection API is not started", flush=True)
    except RuntimeError as exc:
        # The cloud is up without it: say why, 'tools/devcloud api' retries.
        print("devcloud: the protection API did not start: %s" % exc,
              flush=True)
    timings["boot"] = time.monotonic() - t0


def _sync_job(ctx, module, cmds, dbs):
    short = module.__name__.rsplit(".", 1)[1]

    def job():
        _run_all(ctx, cmds, short + "-db-sync")
        for d in dbs:
            ctx.db.after_schema(d)

    return job


def _rings(ctx):
    d = swift.swift_dir(ctx)
    if all((d / (k + ".ring.gz")).exists() for k in swift.SERVERS):
        return
    for k in swift.SERVERS:
        (d / (k + ".builder")).unlink(missing_ok=True)
    log = ctx.layout.log("swift-rings")
    for argv in swift.build_rings(ctx):
        # swift-ring-builder exits 1 for warnings, 2 for errors
        if procs.run(argv, ctx.env(), log, timeout=120, check=False) not in (
            0,
            1,
        ):
            raise RuntimeError("swift-ring-builder failed, see %s" % log)


def _wait_http(ctx, service, path, timeout=120):
    import urllib.error
    import urllib.request
    from .ports import url

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not procs.alive(ctx.layout, service):
            raise RuntimeError(
                "%s died; log: %s\n%s"
                % (
                    service,
                    ctx.layout.log(service),
                    procs.tail(ctx.layout.log(service)),
                )
            )
        try:
            urllib.request.urlopen(url(service, path), timeout=5).read()
            return
        except urllib.error.HTTPError as e:
            if e.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError("%s did not answer within %ds" % (service, timeout))


def _wait_queue(ctx, queue, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for n in ("nova-conductor", "rabbitmq"):
            if not procs.alive(ctx.layout, n):
                raise RuntimeError(
                    "%s died; log: %s\n%s"
                    % (n, ctx.layout.log(n), procs.tail(ctx.layout.log(n)))
                )
        try:
            if rabbit.queue_exists(queue):
                return
        except Exception:
            pass
        time.sleep(0.5)
    raise RuntimeError("RabbitMQ has no %r queue after %ds" % (queue, timeout))


def write_clouds_yaml(layout):
    from .context import ADMIN_PASSWORD, KEYSTONE_URL, USER_PASSWORD
    from .ports import REGION

    def cloud(name, user, password, project):
        return "\n".join(
            [
                "  %s:" % name,
                "    auth:",
                "      auth_url: %s" % KEYSTONE_URL,
                "      username: %s" % user,
                "      password: %s" % password,
                "      project_name: %s" % project,
                "      user_domain_name: Default",
                "      project_domain_name: Default",
                "    region_name: %s" % REGION,
                "    identity_api_version: 3",
                "    interface: public",
            ]
        )

    text = "\n".join(
        [
            "# written by tools/devcloud up: a test cloud on 127.0.0.1, "
            "not for production",
            "clouds:",
            cloud("devcloud", "demo", USER_PASSWORD, "demo"),
            cloud("devcloud-admin", "admin", ADMIN_PASSWORD, "admin"),
            cloud("devcloud-alt", "alt", USER_PASSWORD, "alt"),
            # the protection API's reader persona (stackvault_api.py)
            cloud("devcloud-reader", stackvault_api.READER_USER,
                  USER_PASSWORD, "demo"),
            "",
        ]
    )
    tmp = layout.clouds_yaml.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, layout.clouds_yaml)


def total_rss_mib(ctx):
    total = 0
    for name in service_names(ctx):
        pid = procs.read_pid(ctx.layout, name)
        if pid:
            total += procs.rss_kib(pid)
    return total / 1024.0


# -- down --------------------------------------------------------------------
def stop(ctx):
    # the API first: it suspends its operations while the cloud still
    # answers
    killed = stackvault_api.stop(ctx.layout)
    names = service_names(ctx)
    infra = [n for n in names if n in INFRA]
    services = [n for n in names if n not in INFRA]
    # a test cloud: give the services a short grace, all at once
    killed += procs.stop_many(ctx.layout, services, timeout=15)
    killed += procs.stop_many(ctx.layout, ["rabbitmq"], timeout=30)
    killed += procs.stop_many(
        ctx.layout, [n for n in infra if n != "rabbitmq"], timeout=30
    )
    killed += stackvault_services.stop(ctx.layout)
    unmount_all(ctx.layout)
    return killed
