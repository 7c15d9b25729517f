"""``stackvault conductor`` (and ``stackvault-conductor``): run the
protection service until SIGTERM (doc/deployment.rst).

Exit codes: 0 stopped by SIGTERM/SIGINT, 1 the jobboard or the database
cannot be reached, 2 a configuration mistake (no ``[jobboard] address``,
a SQLite persistence database); each on one line.
"""

import argparse
import logging
import sys

from protection import exceptions
from protection.cli.lazy import LazyModule

# Imported when the conductor starts, not when the CLI builds its parser.
bank_mod = LazyModule("protection.bank")
cli_main = LazyModule("protection.cli.main")
cloud = LazyModule("protection.cloud")
conductor_mod = LazyModule("protection.operations.conductor")
config = LazyModule("protection.config")
jobboard = LazyModule("protection.operations.jobboard")
periodic_mod = LazyModule("protection.plans.periodic")
plan_run = LazyModule("protection.plans.run")
sweeper_mod = LazyModule("protection.operations.sweeper")
registry = LazyModule("protection.plugin.registry")
progress_mod = LazyModule("protection.model.progress")
service_mod = LazyModule("protection.service.facade")

LOG_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"


def register(sub):
    one = sub.add_parser(
        "conductor", help="run the protection service: take operations "
                          "from the jobboard and run them")
    one.add_argument("--log-file", metavar="PATH",
                     help="log there instead of stderr")
    one.add_argument("--name", help="this conductor's unique name "
                                    "(default [conductor] name, or "
                                    "stackvault-conductor-HOST-PID)")


def _log_to(log_file, debug, stderr):
    handler = logging.FileHandler(log_file) if log_file else \
        logging.StreamHandler(stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    if not debug:
        logging.getLogger("alembic").setLevel(logging.WARNING)


def _opened(service):
    """Open the database now: unreachable is exit 1, not a bad config."""
    try:
        return service.stores if service.stores.operations else None
    except exceptions.ConfigError as exc:
        raise exceptions.OperationError(str(exc).splitlines()[0]) from None


def run(app, args):
    conf = app.conf
    if not jobboard.configured(conf):
        raise exceptions.ConfigError(
            "stackvault conductor needs a jobboard: set [jobboard] address "
            "(and a shared [persistence] connection) in stackvault.conf")
    config.shared_persistence_url(conf)
    _log_to(args.log_file, app.args.debug, app.stderr)
    name = args.name or conf.conductor.name or \
        jobboard.default_name("conductor")

    # Operations that recorded a clouds.yaml name (the CLI's) connect
    # with it; those the API posted act with their Keystone trust
    # (protection.service.running.connection, [trustee]).
    def connect(cloud_name=None):
        return cloud.connect(cloud_name,
                             request_timeout=conf.timeouts.request)
    service = service_mod.ProtectionService(
        conf, registry.PluginRegistry.load(conf),
        bank_mod.load(conf, connect=connect),
        progress_mod.Progress([conductor_mod.log_progress]))
    stores = _opened(service)
    board = jobboard.connect(conf, name, stores.flows.backend)
    try:
        periodic = PERIODIC + [
            (periodic_mod.PLAN_INTERVAL,
             periodic_mod.DuePlans(service, connect)),
            (sweeper_mod.SWEEP_INTERVAL,
             sweeper_mod.QueuedSweeper(stores, board,
                                       conf.jobboard.claim_expiry)),
            (sweeper_mod.SWEEP_INTERVAL,
             sweeper_mod.TrustSweeper(stores, service.trusts))]
        # A plan run the API posted: its retention and record, after its
        # protect, with its trust (operations know nothing of plans).
        conductor_mod.serve(conf, service, board, name, connect,
                            periodic=periodic,
                            after=plan_run.AfterProtect(service))
    finally:
        board.close()
    return 0


# ``[(seconds, callable)]`` called by every conductor (see
# protection.operations.conductor.Ticker): where service-side periodic work is
# wired.
PERIODIC = []


def main(argv=None):
    """``stackvault-conductor [--config-file PATH] [--log-file PATH]
    [--name NAME] [--debug]``."""
    parser = argparse.ArgumentParser(
        prog="stackvault-conductor",
        description="Run the stackvault protection service (a TaskFlow "
                    "conductor on the configured jobboard).")
    parser.add_argument("--config-file", action="append", default=[],
                        metavar="PATH")
    parser.add_argument("--log-file", metavar="PATH")
    parser.add_argument("--name")
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(argv)
    forwarded = [arg for path in args.config_file
                 for arg in ("--config-file", path)]
    if args.debug:
        forwarded.append("--debug")
    forwarded.append("conductor")
    if args.log_file:
        forwarded += ["--log-file", args.log_file]
    if args.name:
        forwarded += ["--name", args.name]
    return cli_main.main(forwarded)


if __name__ == "__main__":
    sys.exit(main())
