"""tools/devcloud up|down|status|reset|env|tempest|api

``up`` installs what is missing with the system python (stdlib only), then
re-executes itself with the services virtualenv's python (which has
openstacksdk) to boot and check the cloud. ``tempest`` does the same with
tempest's own virtualenv (see tempest.py).
"""

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from . import paths


def _layout():
    return paths.Layout()


def cmd_env(args):
    from . import stackvault_services

    layout = _layout()
    print(
        "export OS_CLIENT_CONFIG_FILE=%s OS_CLOUD=devcloud"
        % layout.clouds_yaml
    )
    # a distributed run (doc/deployment.rst): [jobboard] address and
    # [persistence] connection; stackvault does not read these itself
    print(stackvault_services.env_line())
    return 0


def cmd_up(args):
    if os.geteuid() != 0:
        print(
            "devcloud: up needs root (apt-get, a bind mount, services that "
            "run as root)",
            file=sys.stderr,
        )
        return 1
    layout = _layout()
    layout.root.mkdir(parents=True, exist_ok=True)
    if args.installed is None:
        from . import install

        t0 = time.monotonic()
        try:
            spent = install.install_all(layout)
        except Exception as exc:
            print("devcloud: install failed: %s" % exc, file=sys.stderr)
            return 1
        spent = time.monotonic() - t0 if spent else 0.0
        py = str(layout.venv / "bin" / "python")
        env = dict(os.environ, PYTHONPATH=str(paths.TOOLS_DIR))
        argv = [
            py,
            "-m",
            "devcloud_impl",
            "up",
            "--installed",
            "%.1f" % spent,
            "--timeout",
            str(args.timeout),
            "--retries",
            str(args.retries),
        ]
        if args.db:
            argv += ["--db", args.db]
        sys.stdout.flush()
        os.execve(py, argv, env)
    from . import boot

    ctx = boot.make_ctx(layout, args.db)
    state = boot.settings(layout)
    state["db"] = ctx.db.name
    boot.save_settings(layout, state)
    timings = {}
    print(
        "devcloud: booting (%s database, state %s)"
        % (ctx.db.name, layout.root),
        flush=True,
    )
    attempt = 0
    while True:
        try:
            boot.up(ctx, timings, ready_timeout=args.timeout)
            break
        except Exception as exc:
            if attempt >= args.retries:
                print("devcloud: up FAILED: %s" % exc, file=sys.stderr)
                print(
                    "devcloud: logs are in %s; 'tools/devcloud down' stops "
                    "what "
                    "started" % layout.logs,
                    file=sys.stderr,
                )
                return 1
            attempt += 1
            # A CI run must not die of one unlucky boot: say what went wrong,
            # stop everything this state started, and boot once more.
            print(
                "devcloud: boot failed (%s); stopping and retrying (%d/%d)"
                % (exc, attempt, args.retries),
                file=sys.stderr,
                flush=True,
            )
            boot.stop(ctx)
    rss = boot.total_rss_mib(ctx)
    n = len(boot.service_names(ctx))
    inst = float(args.installed)
    print(
        "devcloud: install %s"
        % ("%.1f s" % inst if inst else "0 s (already installed)")
    )
    print(
        "devcloud: boot %.1f s (schema and keystone %.1f s)"
        % (timings["boot"], timings["schema+keystone"])
    )
    print("devcloud: services RSS %.0f MiB (%d services)" % (rss, n))
    print("devcloud: ready; to use it:")
    print(
        "  export OS_CLIENT_CONFIG_FILE=%s OS_CLOUD=devcloud"
        % layout.clouds_yaml
    )
    return 0


def cmd_tempest(args):
    layout = _layout()
    from . import tempest

    workspace = (args.workspace or layout.root / "tempest").resolve()
    if args.installed is None:
        cli = args.cli or tempest.default_cli()
        if not cli:
            print("devcloud: no stackvault command: run 'make install' or "
                  "pass --cli PATH", file=sys.stderr)
            return 2
        if not layout.clouds_yaml.exists():
            print("devcloud: %s does not exist: run 'tools/devcloud up' "
                  "first" % layout.clouds_yaml, file=sys.stderr)
            return 2
        try:
            spent = tempest.install_all(layout)
        except Exception as exc:
            print("devcloud: tempest install failed: %s" % exc,
                  file=sys.stderr)
            return 1
        py = str(paths.tempest_venv() / "bin" / "python")
        env = dict(os.environ, PYTHONPATH=str(paths.TOOLS_DIR))
        argv = [py, "-m", "devcloud_impl", "tempest", "--installed",
                "%.1f" % spent, "--workspace", str(workspace),
                "--cli", os.path.abspath(cli), "--regex", args.regex,
                "--concurrency", str(args.concurrency)]
        sys.stdout.flush()
        os.execve(py, argv, env)
    t0 = time.monotonic()
    rc = tempest.run(layout, workspace, args.cli, args.regex,
                     args.concurrency)
    inst = float(args.installed)
    print("devcloud: tempest install %s, run %.1f s, exit %d"
          % ("%.1f s" % inst if inst else "0 s (already installed)",
             time.monotonic() - t0, rc))
    return rc


def cmd_api(args):
    """Register, configure and start stackvault's protection API on the
    running devcloud (idempotent; ``up`` does the same)."""
    layout = _layout()
    if not layout.clouds_yaml.exists():
        print("devcloud: %s does not exist: run 'tools/devcloud up' first"
              % layout.clouds_yaml, file=sys.stderr)
        return 2
    try:
        import openstack  # noqa: F401 - only in the services virtualenv
    except ImportError:
        py = str(layout.venv / "bin" / "python")
        env = dict(os.environ, PYTHONPATH=str(paths.TOOLS_DIR))
        argv = [py, "-m", "devcloud_impl"] + sys.argv[1:]
        sys.stdout.flush()
        os.execve(py, argv, env)
    from . import boot, stackvault_api

    ctx = boot.make_ctx(layout)
    try:
        exe = stackvault_api.ensure(ctx, args.exe, restart=args.restart)
    except RuntimeError as exc:
        print("devcloud: api FAILED: %s" % exc, file=sys.stderr)
        return 1
    if exe is None:
        print("devcloud: no stackvault-api installed: run 'make install' or "
              "pass --exe PATH (Keystone and clouds.yaml are done)",
              file=sys.stderr)
        return 2
    print("devcloud: protection API %s (%s, config %s)"
          % (stackvault_api.URL, exe, stackvault_api.conf_path(layout)))
    return 0


def cmd_down(args):
    layout = _layout()
    if not layout.root.exists():
        print("devcloud: nothing to stop (%s does not exist)" % layout.root)
        return 0
    from . import boot

    ctx = boot.make_ctx(layout)
    killed = boot.stop(ctx)
    if killed:
        print("devcloud: had to SIGKILL: %s" % ", ".join(killed))
    print("devcloud: stopped")
    return 0


def cmd_reset(args):
    layout = _layout()
    if layout.root.exists():
        cmd_down(args)
        from . import boot

        boot.unmount_all(layout)
        shutil.rmtree(layout.root)
    print(
        "devcloud: state %s wiped (virtualenvs kept in %s)"
        % (layout.root, paths.cache_dir())
    )
    return 0


def cmd_status(args):
    layout = _layout()
    from . import boot, status

    ctx = boot.make_ctx(layout)
    rows = status.collect(ctx)
    print("%-18s %-8s %-6s %s" % ("SERVICE", "PID", "PORT", "ANSWERS"))
    for name, pid, port, answers in rows:
        print("%-18s %-8s %-6s %s" % (name, pid or "-", port or "-", answers))
    up_all = all(r[1] for r in rows)
    if up_all:
        print("total RSS %.0f MiB" % boot.total_rss_mib(ctx))
    from . import stackvault_services

    from . import stackvault_api

    for name, where, answers in stackvault_services.status_rows(
        ctx.db.name
    ) + [stackvault_api.status_row(layout)]:
        print("%-18s %-15s %s" % (name, where, answers))
    return 0 if up_all and all(r[3] == "yes" for r in rows) else 3


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="tools/devcloud",
        description="A real OpenStack on this machine, for tests and demos "
        "(not for production). State: $DEVCLOUD_HOME or "
        "<checkout>/.devcloud.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser(
        "up", help="install what is missing, boot, wait until ready"
    )
    p.add_argument(
        "--db",
        choices=["mysql", "sqlite"],
        default=None,
        help="database backend for a new state (default mysql, "
        "or $DEVCLOUD_DB)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=420.0,
        help="seconds to wait for every service to answer",
    )
    p.add_argument(
        "--retries",
        type=int,
        default=1,
        help="boot again this many times after a failed boot (default 1)",
    )
    p.add_argument("--installed", help=argparse.SUPPRESS)
    p.set_defaults(fn=cmd_up)
    sub.add_parser(
        "down", help="stop every process devcloud started"
    ).set_defaults(fn=cmd_down)
    sub.add_parser(
        "status", help="each service, its pid, port, and whether it answers"
    ).set_defaults(fn=cmd_status)
    sub.add_parser(
        "reset", help="stop and wipe the state (not the virtualenvs)"
    ).set_defaults(fn=cmd_reset)
    sub.add_parser(
        "env", help="print the export line for OS_CLOUD"
    ).set_defaults(fn=cmd_env)
    p = sub.add_parser(
        "tempest",
        help="install tempest and stackvault's tempest plugin, write "
        "tempest.conf for devcloud, run the plugin's tests",
    )
    p.add_argument(
        "--workspace",
        type=Path,
        help="tempest workspace (default <state>/tempest)",
    )
    p.add_argument(
        "--cli",
        help="the stackvault command to test (default .venv/bin/stackvault "
        "of this checkout, else stackvault on PATH)",
    )
    p.add_argument(
        "--regex",
        default=r"^stackvault_tempest_plugin\.",
        help="which tests (tempest run --regex)",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=3,
        help="test workers (tempest run --concurrency, default 3: one per "
        "test class, as the tests mostly wait for the cloud)",
    )
    p.add_argument("--installed", help=argparse.SUPPRESS)
    p.set_defaults(fn=cmd_tempest)
    p = sub.add_parser(
        "api",
        help="register stackvault's protection API in Keystone, write its "
        "config, start it on 127.0.0.1:8799 and add the personas to "
        "clouds.yaml (idempotent: for a running devcloud)",
    )
    p.add_argument(
        "--exe",
        help="the stackvault-api to run (default .venv/bin/stackvault-api "
        "of this checkout, else stackvault-api on PATH)",
    )
    p.add_argument(
        "--restart",
        action="store_true",
        help="stop a running API first (to run new code or config)",
    )
    p.set_defaults(fn=cmd_api)
    args = parser.parse_args(argv)
    return args.fn(args)
