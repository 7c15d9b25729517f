"""``stackvault plan ...`` and ``stackvault checkpoint prune``.

``plan create | update | list | show | delete`` keep plans in the
persistence database (:mod:`protection.plans.store`); ``plan run NAME``
protects a plan's resources now and applies its retention; ``plan run-due``
runs every plan whose schedule says so (for cron or a systemd timer, see
``doc/operator-guide.rst``); ``checkpoint prune --plan NAME`` applies a
plan's retention by hand.
"""

import argparse
import datetime

from protection.cli import output
from protection.cli.lazy import LazyModule

params_mod = LazyModule("protection.model.parameters")
plan_run = LazyModule("protection.plans.run")
plans = LazyModule("protection.plans.store")
retention = LazyModule("protection.plans.retention")
runner = LazyModule("protection.operations.runner")
schedule = LazyModule("protection.plans.schedule")

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


def _moment(text):
    """``--now``: an ISO 8601 time (UTC when it names no zone)."""
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 time such as 2026-12-01T02:00:00Z, got "
            f"{text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def _settings_options(parser, creating):
    parser.add_argument("--parameter", action="append", default=None,
                        metavar="TYPE[#ID]:KEY=VALUE",
                        help="protect parameter (update: replaces them all)")
    parser.add_argument("--schedule", metavar="CRON",
                        help="cron expression, UTC (for example "
                             "'0 2 * * *'); without it the plan runs only "
                             "with 'plan run'")
    parser.add_argument("--keep", type=int, metavar="N",
                        help="keep the newest N available checkpoints")
    parser.add_argument("--keep-days", type=float, metavar="D",
                        help="delete available checkpoints older than D "
                             "days")
    parser.add_argument("--cloud", metavar="NAME",
                        help="cloud in clouds.yaml the plan protects "
                             "(default: --os-cloud / $OS_CLOUD)")
    if not creating:
        for name in ("schedule", "keep", "keep-days"):
            parser.add_argument(f"--no-{name}", action="store_true",
                                help=f"remove --{name}")


def register(sub, fmt, resource_ref):
    """Add ``plan`` and its actions; ``resource_ref`` parses TYPE=ID."""
    plan = sub.add_parser("plan", help="plans: what to protect, when, and "
                                       "how many checkpoints to keep")
    psub = plan.add_subparsers(dest="action", metavar="ACTION",
                               parser_class=type(plan))
    psub.required = True
    create = psub.add_parser("create", parents=[fmt], help="create a plan")
    update = psub.add_parser("update", parents=[fmt],
                             help="change a plan (resources given replace "
                                  "its resources)")
    for parser, creating in ((create, True), (update, False)):
        parser.add_argument("name", metavar="NAME")
        parser.add_argument("resources", nargs="+" if creating else "*",
                            metavar="TYPE=ID", type=resource_ref)
        _settings_options(parser, creating)
    psub.add_parser("list", parents=[fmt], help="list plans")
    for action, text in (("show", "show a plan and its last run"),
                         ("delete", "delete a plan (its checkpoints stay)"),
                         ("run", "protect a plan's resources now, then "
                                 "apply its retention")):
        psub.add_parser(action, parents=[fmt], help=text).add_argument(
            "name", metavar="NAME")
    due = psub.add_parser("run-due", parents=[fmt],
                          help="run every plan whose schedule is due (for "
                               "cron or a systemd timer)")
    due.add_argument("--now", type=_moment, metavar="TIME",
                     help="act as if it were TIME (ISO 8601, UTC)")


def register_prune(csub, fmt):
    """Add ``checkpoint prune`` to the checkpoint actions."""
    prune = csub.add_parser("prune", parents=[fmt],
                            help="apply a plan's retention to its "
                                 "checkpoints")
    prune.add_argument("--plan", required=True, metavar="NAME")
    prune.add_argument("--dry-run", action="store_true",
                       help="only say what would be deleted")
    prune.add_argument("--now", type=_moment, metavar="TIME",
                       help="act as if it were TIME (ISO 8601, UTC)")


def _settings(app, args, current=None):
    """The plan's settings from the command line (over ``current``)."""
    settings = {k: getattr(current, k) for k in plans.SETTINGS} \
        if current else {"resources": [], "parameters": {}, "cloud": None,
                         "schedule": None, "keep": None, "keep_days": None}
    if args.resources:
        settings["resources"] = [list(r) for r in args.resources]
    if args.parameter is not None:
        settings["parameters"] = params_mod.from_assignments(args.parameter)
    for key in ("schedule", "keep", "keep_days", "cloud"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
        if getattr(args, f"no_{key}", False):
            settings[key] = None
    if current is None and settings["cloud"] is None:
        settings["cloud"] = app.cloud_name()
    if settings["schedule"] is not None:
        schedule.check(settings["schedule"])
    plans.check_settings(app.service.registry, settings)
    return settings


def _show(app, plan, fmt):
    app.print(output.render_one(plan.to_dict(), fmt))


def _cmd_change(app, args):
    store = app.service.stores.plans
    if args.action == "create":
        settings = _settings(app, args)
        plan = store.create(args.name, settings,
                            schedule.first_run(settings["schedule"]))
    else:
        current = store.get(args.name)
        settings = _settings(app, args, current)
        changes = dict(settings)
        if settings["schedule"] != current.schedule:
            changes["next_run"] = schedule.first_run(settings["schedule"])
        plan = store.update(args.name, **changes)
    _show(app, plan, args.format)
    return EXIT_OK


def _cmd_list(app, args):
    rows = [(p.name, p.schedule or "", p.keep, p.keep_days,
             plans.iso(p.next_run), plans.iso(p.last_run), p.last_status)
            for p in app.service.stores.plans.list()]
    app.print(output.render_list(
        ["Name", "Schedule", "Keep", "Keep days", "Next run", "Last run",
         "Last status"], rows, args.format))
    return EXIT_OK


def _report_runs(app, runs, fmt):
    rows = [(r.plan, r.status, r.checkpoint_id, " ".join(r.deleted),
             r.error or "") for r in runs]
    if runs or fmt != "table":
        app.print(output.render_list(
            ["Plan", "Status", "Checkpoint", "Deleted", "Error"], rows, fmt))
    for done in runs:
        if not done.ok:
            app.stderr.write(f"stackvault: plan {done.plan}: run failed: "
                             f"{done.error}\n")
    return EXIT_OK if all(r.ok for r in runs) else EXIT_FAILED


def _runnable(plan):
    """The plan, unless it was made through the API: such a plan runs
    with its caller's token (``POST /v1/plans/{id}/run``), never with
    this command's clouds.yaml cloud."""
    if plan.made_by_api:
        raise plans.InvalidPlan(
            f"plan {plan.name} ({plan.display_name!r}) belongs to project "
            f"{plan.project_id} and was made through the API: run it with "
            f"POST /v1/plans/{plan.name}/run")
    return plan


def _cmd_run(app, args):
    service = app.service
    try:
        with service.runner.handle_signals():
            if args.action == "run":
                plan = _runnable(service.stores.plans.get(args.name))
                runs = [plan_run.run(service, app.conn, plan)]
            else:
                runs = schedule.run_due(service, app.conn, args.now)
    except runner.OperationInterrupted as exc:
        app.stderr.write(f"stackvault: interrupted: {exc}\n")
        return EXIT_INTERRUPTED
    return _report_runs(app, runs, args.format)


def run(app, args):
    store = app.service.stores.plans
    if args.action in ("create", "update"):
        return _cmd_change(app, args)
    if args.action == "list":
        return _cmd_list(app, args)
    if args.action == "show":
        _show(app, store.get(args.name), args.format)
        return EXIT_OK
    if args.action == "delete":
        store.delete(args.name)
        return EXIT_OK
    return _cmd_run(app, args)


def prune(app, args):
    """``checkpoint prune --plan NAME [--dry-run]``."""
    service = app.service
    plan = _runnable(service.stores.plans.get(args.plan))
    decisions = retention.prune(service, app.conn(plan.cloud), plan,
                                args.now, dry_run=args.dry_run)
    app.print(output.render_list(
        ["Checkpoint", "Created", "Action", "Reason"],
        [(d.checkpoint_id, d.created_at, d.action, d.reason)
         for d in decisions], args.format))
    failed = [d for d in decisions if d.action == retention.FAILED]
    for decision in failed:
        app.stderr.write(f"stackvault: checkpoint {decision.checkpoint_id}: "
                         f"delete failed: {decision.reason}\n")
    return EXIT_FAILED if failed else EXIT_OK
