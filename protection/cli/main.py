"""``stackvault``: protect and restore OpenStack resources from a terminal.

Exit codes: 0 success, 1 the operation failed (also a damaged checkpoint, a
refused commit, a bank or I/O error: :class:`~protection.exceptions.
OperationError`), 2 a usage or configuration mistake. Both are reported on
one line, never with a traceback (unless ``--debug``).
"""

import argparse
import contextlib
import logging
import os
import sys

from flows import contract
from protection import exceptions
from protection.cli import api as api_cli
from protection.cli import audit as audit_cli
from protection.cli import conductor
from protection.cli import datasource
from protection.cli import dry_run
from protection.cli.lazy import LazyModule
from protection.cli import operation
from protection.cli import output
from protection.cli import plan as plan_cli
from protection.cli import plugin as plugin_cli

# Imported by the commands that need them, not at start: listing
# checkpoints (from the catalog) needs neither openstacksdk nor TaskFlow
# (see doc/operations.rst, "Performance").
bank_mod = LazyModule("protection.bank")
catalog_mod = LazyModule("protection.checkpoint.catalog")
checkpoint_store = LazyModule("protection.checkpoint.store")
cloud = LazyModule("protection.cloud")
config = LazyModule("protection.config")
integrity = LazyModule("protection.checkpoint.integrity")
follow = LazyModule("protection.cli.follow")
jobboard = LazyModule("protection.operations.jobboard")
ops = LazyModule("protection.operations.store")
params_mod = LazyModule("protection.model.parameters")
plans_store = LazyModule("protection.plans.store")
printer_mod = LazyModule("protection.cli.progress_printer")
progress_mod = LazyModule("protection.model.progress")
registry_mod = LazyModule("protection.plugin.registry")
runner = LazyModule("protection.operations.runner")
service_mod = LazyModule("protection.service")
stores_mod = LazyModule("protection.service.stores")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130


class UsageError(exceptions.StackvaultError):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def _positive(text):
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number "
                                         "of at least 1")
    return value


def _resource_ref(text):
    rtype, sep, rid = text.partition("=")
    if not sep or "::" not in rtype or not rid:
        raise argparse.ArgumentTypeError(
            f"expected TYPE=ID (for example OS::Cinder::Volume=<id>), got "
            f"{text!r}")
    return (rtype, rid)


def build_parser():
    fmt = argparse.ArgumentParser(add_help=False)
    fmt.add_argument("-f", "--format", choices=output.FORMATS,
                     default="table", help="output format (default table)")
    prog = Parser(prog="stackvault",
                  description="Protect OpenStack resources into checkpoints "
                              "and restore them, without Heat.")
    prog.add_argument("--os-cloud", metavar="NAME",
                      help="cloud in clouds.yaml (default: $OS_CLOUD)")
    prog.add_argument("--config-file", action="append", metavar="PATH",
                      help="stackvault.conf to read (repeatable)")
    prog.add_argument("--debug", action="store_true",
                      help="log details and show tracebacks")
    prog.add_argument("--progress", action="store_true", default=None,
                      help="print progress even when stderr is not a "
                           "terminal")
    sub = prog.add_subparsers(dest="command", metavar="COMMAND",
                              parser_class=Parser)
    sub.required = True
    _add_resource_commands(sub, fmt)
    _add_operation_commands(sub, fmt)
    _add_checkpoint_commands(sub, fmt)
    datasource.register(sub, fmt)
    operation.register(sub, fmt)
    plan_cli.register(sub, fmt, _resource_ref)
    plugin_cli.register(sub, fmt)
    conductor.register(sub)
    api_cli.register(sub)
    audit_cli.register(sub, fmt)
    return prog


def _no_wait(parser):
    parser.add_argument("--no-wait", action="store_true",
                        help="with a jobboard: post the operation, print "
                             "its id and return at once")


def _add_resource_commands(sub, fmt):
    resource = sub.add_parser("resource", help="protectable resources")
    rsub = resource.add_subparsers(dest="action", metavar="ACTION",
                                   parser_class=Parser)
    rsub.required = True
    rlist = rsub.add_parser("list", parents=[fmt],
                            help="list protectable resources")
    rlist.add_argument("--type", metavar="TYPE")
    rshow = rsub.add_parser("show", parents=[fmt],
                            help="a resource and its dependency tree")
    rshow.add_argument("type", metavar="TYPE")
    rshow.add_argument("id", metavar="ID")


def _add_operation_commands(sub, fmt):
    protect = sub.add_parser("protect", parents=[fmt],
                             help="protect resources into a new checkpoint")
    protect.add_argument("--name", required=True)
    protect.add_argument("resources", nargs="+", metavar="TYPE=ID",
                         type=_resource_ref)
    protect.add_argument("--parameter", action="append", default=[],
                         metavar="TYPE[#ID]:KEY=VALUE")
    _no_wait(protect)

    restore = sub.add_parser("restore", parents=[fmt],
                             help="restore a checkpoint")
    restore.add_argument("checkpoint_id", metavar="CHECKPOINT_ID")
    restore.add_argument("--parameter", action="append", default=[],
                         metavar="TYPE[#ID]:KEY=VALUE")
    restore.add_argument("--on-failure", choices=contract.POLICIES,
                         default=contract.ROLLBACK,
                         help="rollback (default) deletes what the restore "
                              "created; keep leaves it and lists it")
    restore.add_argument("--target-cloud", metavar="NAME",
                         help="restore into this cloud/project, with its own "
                              "credentials (default: --os-cloud)")
    restore.add_argument("--dry-run", action="store_true",
                         help="create nothing: print the plan, every "
                              "mapping and the pre-flight checks (exit 1 "
                              "when one fails)")
    restore.add_argument("--skip-preflight", action="store_true",
                         help="restore even when a pre-flight check fails")
    restore.add_argument("--only", action="append", default=[],
                         metavar="TYPE=ID", type=_resource_ref,
                         help="restore only this resource and what it needs "
                              "from the checkpoint (repeatable)")
    restore.add_argument("--exclude", action="append", default=[],
                         metavar="TYPE=ID", type=_resource_ref,
                         help="leave this resource out; its parents must "
                              "map it to an existing one (repeatable)")
    _no_wait(restore)


def _add_checkpoint_commands(sub, fmt):
    checkpoint = sub.add_parser("checkpoint", help="checkpoints in the bank")
    csub = checkpoint.add_subparsers(dest="action", metavar="ACTION",
                                     parser_class=Parser)
    csub.required = True
    clist = csub.add_parser("list", parents=[fmt], help="list checkpoints")
    clist.add_argument("--plan", metavar="NAME",
                       help="only the checkpoints of this plan")
    clist.add_argument("--limit", type=_positive, metavar="N",
                       help="at most N checkpoints (a page)")
    clist.add_argument("--marker", metavar="ID",
                       help="those after checkpoint ID (the last of the "
                            "previous page)")
    csub.add_parser("reindex", parents=[fmt],
                    help="rebuild the checkpoint catalog from the bank "
                         "(safe to re-run)")
    sign = csub.add_parser(
        "sign", parents=[fmt],
        help="sign older, unsigned checkpoints with the bank key "
             "([bank] key_file) so that they stay restorable")
    which = sign.add_mutually_exclusive_group(required=True)
    which.add_argument("checkpoint_ids", metavar="ID", nargs="*", default=[],
                       help="the checkpoints to sign")
    which.add_argument("--all", action="store_true",
                       help="every checkpoint of the bank not signed yet")
    for action, text in (("show", "show a checkpoint"),
                         ("delete", "delete a checkpoint and its backups"),
                         ("verify", "check every object hash (and, with a "
                                    "cloud, what plugins stored there)")):
        one = csub.add_parser(action, parents=[fmt], help=text)
        one.add_argument("checkpoint_id", metavar="ID")
        if action != "show":
            _no_wait(one)
        if action == "delete":
            one.add_argument("--force", action="store_true",
                             help="also delete a checkpoint left "
                                  "'protecting' by a protect that died")
        if action == "verify":
            one.add_argument("--offline", action="store_true",
                             help="check the bank only, no cloud")
    plan_cli.register_prune(csub, fmt)


class App:
    """Holds what the commands share; builds each piece when first needed."""

    def __init__(self, args, stdout, stderr):
        self.args = args
        self.stdout = stdout
        self.stderr = stderr
        self._service = None
        self._conf = None
        self._bank = None
        self._stores = None
        self._conns = {}

    @property
    def conf(self):
        if self._conf is None:
            self._conf = config.load_config(self.args.config_file)
        return self._conf

    @property
    def bank(self):
        if self._bank is None:
            self._bank = bank_mod.load(self.conf, connect=self.conn)
        return self._bank

    @property
    def stores(self):
        """The persistence database's tables, without the whole
        service."""
        if self._service is not None:
            return self._service.stores
        if self._stores is None:
            self._stores = stores_mod.Stores(self.conf)
        return self._stores

    @property
    def checkpoints(self):
        """The bank's checkpoints, without the whole service."""
        if self._service is not None:
            return self._service.checkpoints
        return checkpoint_store.CheckpointStore(
            self.bank, owner_timeout=self.conf.bank.owner_timeout,
            bank_key=integrity.key_from_config(self.conf),
            catalog=self.stores.catalog_updates())

    def cloud_name(self, name=None):
        """The clouds.yaml name an operation records (never credentials)."""
        return name or self.args.os_cloud or os.environ.get("OS_CLOUD")

    def conn(self, name=None):
        name = name or self.args.os_cloud
        if name not in self._conns:
            self._conns[name] = cloud.connect(
                name, request_timeout=self.conf.timeouts.request)
        return self._conns[name]

    @property
    def service(self):
        if self._service is None:
            conf = self.conf
            plugins = registry_mod.PluginRegistry.load(conf)
            progress = progress_mod.Progress()
            show = self.args.progress
            if show is None:
                show = self.stderr.isatty()
            if show:
                progress.add_listener(
                    printer_mod.ProgressPrinter(self.stderr))
            service = service_mod.ProtectionService(
                conf, plugins, self.bank, progress, stores=self._stores)
            if jobboard.configured(conf):
                service.poster = jobboard.Poster(conf, service.stores)
            self._service = service
        return self._service

    def print(self, text):
        self.stdout.write(text.rstrip("\n") + "\n")


def _cmd_resource(app, args):
    service = app.service
    if args.action == "list":
        found = service.list_resources(app.conn(), args.type)
        app.print(output.render_list(
            ["Type", "ID", "Name"], [(r.type, r.id, r.name) for r in found],
            args.format))
        return EXIT_OK
    resource = service.show_resource(app.conn(), args.type, args.id)
    graph = service.resource_graph(app.conn(), [resource])
    tree = [("  " * depth + r.type, r.id, r.name)
            for depth, r in graph.tree()]
    if args.format in ("json", "yaml"):
        app.print(output.render_one({"resource": resource.to_dict(),
                                     "graph": graph.to_dict()}, args.format))
    else:
        app.print(output.render_list(["Type", "ID", "Name"], tree,
                                     args.format))
    return EXIT_OK


def _report(app, result, fmt):
    _report_data(app, result.to_dict(), fmt)


def _report_data(app, data, fmt):
    if fmt in ("json", "yaml"):
        app.print(output.render_one(data, fmt))
        return
    app.print(output.render_one(
        {k: v for k, v in data.items() if v not in ({}, [], None)}, fmt))


def _run_operation(app, args, call):
    """Run one operation: SIGINT/SIGTERM stop it at a task boundary and
    leave it resumable."""
    try:
        with app.service.runner.handle_signals():
            result = call()
    except runner.OperationInterrupted as exc:
        app.stderr.write(
            f"stackvault: interrupted: operation {exc.operation_id} stopped "
            "at a task boundary; finish it with 'stackvault operation "
            f"resume {exc.operation_id}' or undo it with 'stackvault "
            f"operation abort {exc.operation_id}'\n")
        return EXIT_INTERRUPTED
    except exceptions.OperationFailed as exc:
        if exc.result is not None:
            _report(app, exc.result, args.format)
        app.stderr.write(f"stackvault: {output.one_line(exc)}\n")
        return EXIT_FAILED
    if isinstance(result, jobboard.Posted):
        return _follow(app, args, result)
    _report(app, result, args.format)
    return EXIT_OK


def _follow(app, args, posted):
    """A posted operation: its id at once (``--no-wait``), or followed
    until it ends, with the embedded run's output and exit code."""
    if getattr(args, "no_wait", False):
        app.print(output.render_one({"operation_id": posted.operation_id,
                                     "status": ops.QUEUED}, args.format))
        return EXIT_OK
    try:
        op = follow.wait(app.service, posted)
    except follow.NotFollowed as exc:
        app.stderr.write(f"stackvault: {output.one_line(exc)}\n")
        return EXIT_FAILED
    except KeyboardInterrupt:
        app.stderr.write(
            f"stackvault: stopped following operation "
            f"{posted.operation_id}, which goes on: 'stackvault operation "
            f"show {posted.operation_id}'\n")
        return EXIT_INTERRUPTED
    if op.result is not None:
        _report_data(app, op.result, args.format)
    if op.status == ops.SUCCEEDED:
        return EXIT_OK
    app.stderr.write(
        f"stackvault: {output.one_line(follow.failure_line(op))}\n")
    return EXIT_FAILED


def _cmd_protect(app, args):
    params = params_mod.from_assignments(args.parameter)
    return _run_operation(app, args, lambda: app.service.protect(
        app.conn(), args.name, args.resources, params,
        cloud=app.cloud_name()))


def _cmd_restore(app, args):
    params = params_mod.from_assignments(args.parameter)
    if args.dry_run:
        if args.skip_preflight:
            raise UsageError("stackvault restore: --dry-run is the "
                             "pre-flight: it cannot be skipped")
        return dry_run.show(app, app.service.dry_run(
            args.checkpoint_id, app.conn(args.target_cloud), params,
            only=args.only, exclude=args.exclude), args.format)
    return _run_operation(app, args, lambda: app.service.restore(
        args.checkpoint_id, app.conn(args.target_cloud), params,
        args.on_failure, cloud=app.cloud_name(args.target_cloud),
        only=args.only, exclude=args.exclude,
        skip_preflight=args.skip_preflight))


def _add_graph(data, checkpoint, fmt):
    if fmt in ("json", "yaml"):
        data["graph"] = checkpoint.index["graph"]
    else:
        data["tree"] = "\n".join(f"{'  ' * d}{r.type} {r.id}"
                                 for d, r in checkpoint.graph.tree())


def _plan_ids(app, name):
    """What ``--plan NAME`` matches in the catalog's ``plan_id``: the id
    of this deployment's plan of that name, and the name itself (what
    checkpoints written before plans had ids recorded)."""
    try:
        return (app.stores.plans.get(name).id, name)
    except plans_store.PlanNotFound:
        return (name,)


def _list_checkpoints(app, args):
    """``checkpoint list``: a page of the catalog (built from the bank
    the first time; ``--plan``: the plan's checkpoints, see
    :func:`_plan_ids`)."""
    catalog = app.stores.catalog
    catalog.built_from(app.checkpoints)
    try:
        found, _more = catalog.page(
            filters={"plan_id": _plan_ids(app, args.plan)} if args.plan
            else None, limit=args.limit, marker=args.marker)
    except catalog_mod.MarkerNotFound:
        raise UsageError(f"--marker {args.marker}: no such checkpoint in "
                         "this list") from None
    rows = [(s["id"], s["name"], s["status"], s["created_at"],
             s["resources"]) for s in found]
    app.print(output.render_list(
        ["ID", "Name", "Status", "Created", "Resources"], rows,
        args.format))
    return EXIT_OK


def _sign_checkpoints(app, args):
    """``checkpoint sign``: one row per checkpoint, what became of it;
    exit 1 when one was refused (damaged, busy), after trying them all."""
    if app.conf.bank.key_file is None:
        raise UsageError("checkpoint sign needs the bank key: set [bank] "
                         "key_file in stackvault.conf")
    service = app.service
    ids = service.checkpoint_ids() if args.all else args.checkpoint_ids
    rows, refused = [], 0
    for checkpoint_id in ids:
        try:
            done = service.sign_checkpoint(checkpoint_id)
        except (exceptions.CheckpointDamaged, exceptions.CheckpointBusy,
                exceptions.CheckpointNotFound) as exc:
            refused += 1
            rows.append((checkpoint_id, f"refused: {output.one_line(exc)}"))
            continue
        rows.append((checkpoint_id, "signed" if done else "signed already"))
    app.print(output.render_list(["ID", "Result"], rows, args.format))
    return EXIT_FAILED if refused else EXIT_OK


def _cmd_checkpoint(app, args):
    if args.action == "list":
        return _list_checkpoints(app, args)
    if args.action == "reindex":
        counts = app.stores.catalog.rebuild(app.checkpoints)
        app.print(output.render_one(counts, args.format))
        return EXIT_OK
    if args.action == "sign":
        return _sign_checkpoints(app, args)
    if args.action == "show":
        checkpoint = app.checkpoints.get(args.checkpoint_id)
        data = dict(checkpoint.to_summary())
        if checkpoint.damage is not None:
            data["damage"] = checkpoint.damage
        if checkpoint.owner is not None:
            data["owner"] = checkpoint.owner
        data["plan"] = checkpoint.request       # index.json's name, shown
        data["resources"] = checkpoint.index.get("resources", {})
        data["errors"] = checkpoint.index.get("errors", [])
        data["bank"] = app.bank.describe()
        if checkpoint.index_readable:
            _add_graph(data, checkpoint, args.format)
        app.print(output.render_one(data, args.format))
        return EXIT_OK
    if args.action == "prune":
        return plan_cli.prune(app, args)
    service = app.service
    if args.action == "delete":
        return _run_operation(app, args, lambda: service.delete(
            args.checkpoint_id, app.conn(), force=args.force,
            cloud=app.cloud_name()))
    conn = None if args.offline else app.conn()
    return _run_operation(app, args, lambda: service.verify(
        args.checkpoint_id, conn,
        cloud=None if args.offline else app.cloud_name()))


def _cmd_operation(app, args):
    return operation.run(app, args, _run_operation)


COMMANDS = {"resource": _cmd_resource, "protect": _cmd_protect,
            "restore": _cmd_restore, "checkpoint": _cmd_checkpoint,
            "datasource": datasource.run, "operation": _cmd_operation,
            "plan": plan_cli.run, "conductor": conductor.run,
            "plugin": plugin_cli.run, "api": api_cli.run,
            "audit": audit_cli.run}


def _cloud_errors():
    """openstacksdk's and keystoneauth's errors, of those imported (an
    error of a library never imported was not raised)."""
    found = []
    for module, name in (("openstack.exceptions", "SDKException"),
                         ("keystoneauth1.exceptions", "ClientException")):
        if module in sys.modules:
            found.append(getattr(sys.modules[module], name))
    return tuple(found)


def main(argv=None, stdout=None, stderr=None):
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING,
                        stream=stderr,
                        format="%(asctime)s %(levelname)s %(name)s: "
                               "%(message)s")
    if not debug:
        # TaskFlow logs every failed flow at ERROR with its state machine;
        # stackvault reports the failure itself, with resource and step.
        logging.getLogger("taskflow").setLevel(logging.CRITICAL)
        # keystoneauth warns before it raises; the raised error is what
        # stackvault prints, on one line.
        logging.getLogger("keystoneauth").setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(stdout):   # --help goes to stdout
            args = build_parser().parse_args(argv)
        return COMMANDS[args.command](App(args, stdout, stderr), args)
    except UsageError as exc:
        stderr.write(f"{output.one_line(exc)}\n")
        return EXIT_USAGE
    except exceptions.OperationFailed as exc:
        stderr.write(f"stackvault: {output.one_line(exc)}\n")
        return EXIT_FAILED
    except exceptions.OperationError as exc:
        stderr.write(f"stackvault: error: {output.one_line(exc)}\n")
        return EXIT_FAILED
    except exceptions.StackvaultError as exc:
        stderr.write(f"stackvault: error: {output.one_line(exc)}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        stderr.write("stackvault: interrupted\n")
        return 130
    except Exception as exc:  # noqa: BLE001 - last line of defence
        if debug:
            raise
        if isinstance(exc, _cloud_errors()):
            stderr.write(
                f"stackvault: cloud error: {output.one_line(exc)}\n")
            return EXIT_FAILED
        stderr.write(f"stackvault: internal error: {type(exc).__name__}: "
                     f"{output.one_line(exc)} (run with --debug for the "
                     "traceback)\n")
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
