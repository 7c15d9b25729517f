"""One module per OpenStack service: its config files, schema and processes.

Each module has ``configure(ctx)`` (write its config files, every ``up``),
``db_sync(ctx)`` (argv lists run once, in order, when the state is new),
``procs(ctx)`` (what to start) and ``CATALOG`` (keystone services and
endpoints, see identity.py).
"""

import shutil

from .. import procs
from ..ports import HOST, PORTS


def gunicorn(ctx, name, port_name, env, threads=8):
    """An API service under gunicorn (see wsgi.py): 1 worker, N threads."""
    env = dict(env)
    return procs.Proc(
        name + "-api"
        if name not in ("keystone", "glance", "placement")
        else name,
        [
            ctx.layout.vbin("gunicorn"),
            "--bind",
            "%s:%d" % (HOST, PORTS[port_name]),
            "--workers",
            "1",
            "--worker-class",
            "gthread",
            "--threads",
            str(threads),
            # openstacksdk polls every 2 s: gunicorn's 2 s default keep-alive
            # races with it and resets connections.
            "--keep-alive",
            "600",
            "--timeout",
            "600",
            "--graceful-timeout",
            "5",
            "--name",
            name,
            'devcloud_impl.wsgi:app("%s")' % name,
        ],
        env=env,
        port=PORTS[port_name],
    )


def config_args(*files):
    return " ".join("--config-file %s" % f for f in files)


def copy_paste_ini(ctx, project, filename, dest):
    src = ctx.layout.venv / "etc" / project / filename
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    return dest


def modules():
    from . import (
        cinder,
        glance,
        heat,
        keystone,
        neutron,
        nova,
        placement,
        swift,
    )

    return [keystone, glance, placement, neutron, nova, cinder, heat, swift]


def _catalog():
    from . import cinder, glance, heat, neutron, nova, placement, swift

    out = []
    for m in (glance, placement, neutron, nova, cinder, heat, swift):
        out.extend(m.CATALOG)
    return out


class _LazyCatalog:
    def __iter__(self):
        return iter(_catalog())


ALL_CATALOG = _LazyCatalog()
