"""``stackvault-manage``: the operator's commands on the persistence
database (doc/deployment.rst, "Upgrades"; doc/operations.rst, "The
checkpoint catalog").

``db sync``          migrate the database to this release (stackvault's
                     tables with :mod:`protection.db.migrate`, TaskFlow's
                     with TaskFlow), under the schema lock
``db version``       the revision of stackvault's tables
``catalog rebuild``  make the checkpoint catalog the bank's again

Exit codes as ``stackvault``'s: 0 done, 1 the database or the bank
cannot be reached, 2 a configuration mistake; each on one line.
"""

import argparse
import contextlib
import logging
import sys

from protection import exceptions
from protection.cli.lazy import LazyModule
from protection.cli import main as cli_main
from protection.cli import output

db_engine = LazyModule("protection.db.engine")
migrate = LazyModule("protection.db.migrate")


def build_parser():
    fmt = argparse.ArgumentParser(add_help=False)
    fmt.add_argument("-f", "--format", choices=output.FORMATS,
                     default="table", help="output format (default table)")
    prog = cli_main.Parser(
        prog="stackvault-manage",
        description="Migrate stackvault's database and rebuild its "
                    "checkpoint catalog.")
    prog.add_argument("--config-file", action="append", metavar="PATH",
                      help="stackvault.conf to read (repeatable)")
    prog.add_argument("--os-cloud", metavar="NAME",
                      help="cloud in clouds.yaml of a Swift bank (default: "
                           "$OS_CLOUD)")
    prog.add_argument("--debug", action="store_true",
                      help="log details and show tracebacks")
    sub = prog.add_subparsers(dest="command", metavar="COMMAND",
                              parser_class=cli_main.Parser)
    sub.required = True
    db = sub.add_parser("db", help="the persistence database's schema")
    dsub = db.add_subparsers(dest="action", metavar="ACTION",
                             parser_class=cli_main.Parser)
    dsub.required = True
    dsub.add_parser("sync", parents=[fmt],
                    help="migrate the database to this release")
    dsub.add_parser("version", parents=[fmt],
                    help="the revision of stackvault's tables")
    catalog = sub.add_parser("catalog", help="the checkpoint catalog")
    csub = catalog.add_subparsers(dest="action", metavar="ACTION",
                                  parser_class=cli_main.Parser)
    csub.required = True
    csub.add_parser("rebuild", parents=[fmt],
                    help="rebuild it from the bank (safe to re-run)")
    return prog


def _engine(app):
    return db_engine.make_engine(cli_main.config.persistence_url(app.conf),
                                 app.conf.persistence.timeout)


def _db(app, args):
    engine = _engine(app)
    if args.action == "version":
        return {"revision": migrate.current(engine), "head": migrate.HEAD}
    was = migrate.current(engine)
    with db_engine.schema_lock(engine):
        migrate.upgrade(engine)
    flows = app.stores.flows     # opening migrates TaskFlow's tables
    return {"revision": migrate.current(engine), "was": was,
            "taskflow": "upgraded" if flows is not None else "absent"}


def _catalog(app, _args):
    return app.stores.catalog.rebuild(app.checkpoints)


COMMANDS = {"db": _db, "catalog": _catalog}


def _run(argv, stdout, stderr):
    with contextlib.redirect_stdout(stdout):   # --help goes to stdout
        args = build_parser().parse_args(argv)
    args.progress = False
    app = cli_main.App(args, stdout, stderr)
    app.print(output.render_one(COMMANDS[args.command](app, args),
                                args.format))
    return cli_main.EXIT_OK


def main(argv=None, stdout=None, stderr=None):
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING,
                        stream=stderr)
    try:
        return _run(argv, stdout, stderr)
    except cli_main.UsageError as exc:
        stderr.write(f"{exc}\n")
        return cli_main.EXIT_USAGE
    except exceptions.OperationError as exc:
        stderr.write(f"stackvault-manage: error: {exc}\n")
        return cli_main.EXIT_FAILED
    except exceptions.StackvaultError as exc:
        stderr.write(f"stackvault-manage: error: {exc}\n")
        return cli_main.EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - last line of defence
        if debug:
            raise
        stderr.write(f"stackvault-manage: error: {type(exc).__name__}: "
                     f"{exc}\n")
        return cli_main.EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
