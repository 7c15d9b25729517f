"""stackvault's protection API on devcloud (issue 22): ``tools/devcloud api``.

What it does, every step find-or-create so that it can be applied to a
running devcloud as often as wanted (``up`` runs it last):

* Keystone: the service user ``stackvault`` (role ``service`` in the
  ``service`` project: what keystonemiddleware needs to validate tokens),
  the ``data-protection`` service ``stackvault`` with its endpoints at
  http://127.0.0.1:8799, and the persona ``demo-reader`` (role ``reader``
  only, in project ``demo``);
* ``<state>/etc/stackvault/stackvault-api.conf``: ``[api]`` on
  127.0.0.1:8799, a filesystem bank and a SQLite database of its own under
  ``<state>/data/stackvault-api`` (nothing shared with other stackvault
  runs on this devcloud), ``[keystone_authtoken]`` with the service user,
  and ``[trustee]`` (the same user: what conductors act as with an API's
  trusts; this API has no jobboard and does not use it);
* starts ``stackvault-api`` as a devcloud process (log
  ``<state>/logs/stackvault-api.log``; ``down`` stops it) and waits until
  ``/`` answers;
* ``clouds.yaml`` gets the personas: ``devcloud`` (member, project demo),
  ``devcloud-alt`` (member, project alt), ``devcloud-reader`` (reader,
  project demo), ``devcloud-admin`` (admin).

The API runs the ``stackvault-api`` of this checkout's ``.venv`` (``make
install``), else the one on PATH; without one, ``up`` says so and goes on
(the rest of devcloud needs no API).
"""

import os
import shutil
import time
import urllib.error
import urllib.request

from . import ini, paths, procs
from .context import KEYSTONE_URL, SERVICE_PASSWORD, USER_PASSWORD
from .ports import HOST, REGION

NAME = "stackvault-api"
PORT = 8799
URL = "http://%s:%d" % (HOST, PORT)
SERVICE_TYPE = "data-protection"
SERVICE_USER = "stackvault"
READER_USER = "demo-reader"


def executable(explicit=None):
    """The stackvault-api to run: ``explicit``, this checkout's .venv's,
    or PATH's; None when there is none."""
    if explicit:
        return explicit
    mine = paths.CHECKOUT / ".venv" / "bin" / NAME
    if mine.exists():
        return str(mine)
    return shutil.which(NAME)


def conf_path(layout):
    return layout.etc_for("stackvault") / "stackvault-api.conf"


def write_conf(layout):
    """The API's configuration (rewritten on every run: it holds only
    what this module decides)."""
    data = layout.data_for(NAME)
    (data / "bank").mkdir(parents=True, exist_ok=True)
    path = ini.write(conf_path(layout), {
        "api": {"host": HOST, "port": PORT, "region_name": REGION},
        "bank": {"backend": "filesystem"},
        "filesystem_bank": {"path": data / "bank"},
        "persistence": {"connection": "sqlite:///%s" % (data / "api.db")},
        "keystone_authtoken": {
            "www_authenticate_uri": KEYSTONE_URL,
            "auth_url": KEYSTONE_URL,
            "auth_type": "password",
            "username": SERVICE_USER,
            "password": SERVICE_PASSWORD,
            "project_name": "service",
            "user_domain_name": "Default",
            "project_domain_name": "Default",
            "region_name": REGION,
            "interface": "public",
            # validated tokens are kept in the process for 5 minutes
            "token_cache_time": 300,
        },
        # The user conductors act as with the trusts an API with a
        # jobboard makes. devcloud's API has no jobboard (one process,
        # its own pool: nothing else of devcloud must run for it), so it
        # does not use this; a test that starts an API and conductors
        # on devcloud's Redis and MariaDB (tests/fullstack/
        # test_api_conductor.py) uses the same user.
        "trustee": {
            "auth_type": "password",
            "auth_url": KEYSTONE_URL,
            "username": SERVICE_USER,
            "password": SERVICE_PASSWORD,
            "user_domain_name": "Default",
        },
    })
    os.chmod(path, 0o600)
    return path


def proc(layout, exe):
    return procs.Proc(NAME, [exe, "--config-file", conf_path(layout)],
                      port=PORT)


def register(conn):
    """The service user, the catalog entry and the reader persona."""
    from . import identity

    identity.project_user(conn, SERVICE_USER, SERVICE_PASSWORD, "service",
                          "service")
    identity.project_user(conn, READER_USER, USER_PASSWORD, "demo", "reader")
    identity.catalog_entry(conn, "stackvault", SERVICE_TYPE, URL)


def answers(timeout=2.0):
    """Whether the API answers version discovery (``/``)."""
    try:
        with urllib.request.urlopen(URL + "/", timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def wait(layout, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not procs.alive(layout, NAME):
            raise RuntimeError("%s exited at start; log: %s\n%s" % (
                NAME, layout.log(NAME), procs.tail(layout.log(NAME))))
        if answers(timeout=1.0):
            return
        time.sleep(0.2)
    raise RuntimeError("%s did not answer on %s within %ds" % (
        NAME, URL, timeout))


def ensure(ctx, exe=None, restart=False):
    """Register, configure, (re)start and wait for the API; the
    executable run, or None when none is installed (nothing started,
    Keystone and clouds.yaml still done)."""
    from . import boot, identity

    conn = identity.admin_connection()
    try:
        register(conn)
    finally:
        conn.close()
    boot.write_clouds_yaml(ctx.layout)
    exe = executable(exe)
    if exe is None:
        return None
    write_conf(ctx.layout)
    if restart:
        procs.stop_many(ctx.layout, [NAME], timeout=30)
    procs.start(ctx.layout, proc(ctx.layout, exe), ctx.env())
    wait(ctx.layout)
    return exe


def stop(layout):
    return procs.stop_many(layout, [NAME], timeout=30)


def status_row(layout):
    """``(name, where, answers)`` for ``status``."""
    pid = procs.read_pid(layout, NAME)
    where = "%s pid %s" % (URL, pid or "-")
    return (NAME, where, "yes" if pid and answers() else "no")
