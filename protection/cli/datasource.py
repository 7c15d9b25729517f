"""``stackvault datasource``: cloud APIs as read-only tables.

::

    stackvault datasource list
    stackvault datasource tables NAME
    stackvault datasource show NAME TABLE [--column COLUMN=VALUE ...]
                                          [--polls N [--interval SECONDS]]

``show`` polls only what TABLE needs (``show heat poll_errors`` polls
everything but the opt-in tables, to show every call that fails).
``--column`` keeps the rows whose COLUMN reads exactly VALUE (as printed;
repeat it to require several). When calls failed, the rows that could be
read are printed, each failure is reported on stderr in one line, and the
exit code is 1.

``--polls N`` polls N times, ``--interval`` seconds apart, with the same
datasource object, and prints the table after each poll, preceded on
stderr by one line saying whether it is complete, stale (a failed call's
rows are those of the previous poll) or incomplete (rows are missing).
The exit code is that of the last poll.
"""

import argparse
import textwrap

from protection import config
from protection import datasources
from protection import exceptions
from protection.cli import output
from protection.datasources import polling

# protection.cli.main's exit codes
EXIT_OK, EXIT_FAILED = 0, 1
ERRORS_TABLE = "poll_errors"


def _assignment(text):
    column, sep, value = text.partition("=")
    if not sep or not column:
        raise argparse.ArgumentTypeError(
            f"expected COLUMN=VALUE, got {text!r}")
    return column, value


def _count(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _seconds(text):
    value = float(text)
    if not 0 <= value <= 86400:
        raise argparse.ArgumentTypeError(
            f"must be between 0 and 86400, not {text}")
    return value


def register(subparsers, fmt_parent):
    """Add ``datasource`` and its actions to the CLI's subparsers."""
    parser = subparsers.add_parser(
        "datasource", help="cloud APIs (Heat) as read-only tables")
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    sub.add_parser("list", parents=[fmt_parent],
                   help="list the installed datasources")
    tables = sub.add_parser("tables", parents=[fmt_parent],
                            help="the tables of a datasource and their "
                                 "columns")
    tables.add_argument("name", metavar="NAME")
    show = sub.add_parser("show", parents=[fmt_parent],
                          help="read a table from the cloud")
    show.add_argument("name", metavar="NAME")
    show.add_argument("table", metavar="TABLE")
    show.add_argument("--column", action="append", default=[],
                      type=_assignment, metavar="COLUMN=VALUE",
                      help="keep rows whose COLUMN is VALUE (repeatable)")
    show.add_argument("--polls", type=_count, default=1, metavar="N",
                      help="poll N times with the same datasource (a "
                           "failed call then keeps the previous poll's "
                           "rows, marked stale); default 1")
    show.add_argument("--interval", type=_seconds, default=30.0,
                      metavar="SECONDS",
                      help="seconds from one poll to the next (default 30)")
    return parser


def run(app, args):
    return {"list": _list, "tables": _tables, "show": _show}[args.action](
        app, args)


def _list(app, args):
    rows = []
    for name in datasources.names():
        cls = datasources.load_class(name)
        rows.append((name, len(cls.tables()), cls.summary()))
    app.print(output.render_list(["Name", "Tables", "Description"], rows,
                                 args.format))
    return EXIT_OK


def _tables(app, args):
    cls = datasources.load_class(args.name)
    rows = []
    for table in cls.tables().values():
        if args.format in ("json", "yaml"):
            columns, doc = list(table.columns), table.doc
        elif args.format == "table":
            columns = "\n".join(table.columns)
            doc = "\n".join(textwrap.wrap(table.doc, 50))
        else:
            columns, doc = ",".join(table.columns), table.doc
        rows.append((table.name, columns, doc))
    app.print(output.render_list(["Table", "Columns", "Description"], rows,
                                 args.format))
    return EXIT_OK


def _text(value):
    return "" if value is None else str(value)


def _matches(row, filters):
    for column, want in filters:
        value = row.get(column)
        if _text(value) == want:
            continue
        if isinstance(value, bool) and want.lower() == str(value).lower():
            continue
        return False
    return True


def _show(app, args):
    cls = datasources.load_class(args.name)
    cls.check_tables([args.table])
    table = cls.tables()[args.table]
    for column, _value in args.column:
        if column not in table.columns:
            raise exceptions.StackvaultError(
                f"table {table.name!r} has no column {column!r} (columns: "
                f"{', '.join(table.columns)})")
    conf = config.load_config(args.config_file)
    source = datasources.load(args.name, app.conn(), conf)
    only = None if args.table == ERRORS_TABLE else [args.table]
    code = EXIT_OK
    for number, result in enumerate(polling.poll_loop(
            source, args.interval, polls=args.polls, only=only), 1):
        rows = [r for r in result.rows(args.table)
                if _matches(r, args.column)]
        if args.polls > 1:
            app.stderr.write(
                f"stackvault: poll {number}/{args.polls}: table "
                f"{args.table} {result.status(args.table)}, {len(rows)} "
                f"rows, {result.calls} calls\n")
        app.print(output.render_list(
            list(table.columns),
            [[r.get(c) for c in table.columns] for r in rows], args.format))
        code = _warn(app, args.table, result)
    return code


def _warn(app, table, result):
    """One line on stderr per failed call that fed ``table``."""
    if table == ERRORS_TABLE:
        return EXIT_OK
    failed = [e for e in result.errors
              if table in (e.get("tables") or "").split(", ")]
    for error in failed:
        where = f" (stack {error['stack_name']})" if error.get(
            "stack_name") else ""
        kept = f"; {error['kept_rows']} row(s) of the previous poll kept " \
            f"(stale)" if error.get("kept_rows") else ""
        app.stderr.write(f"stackvault: warning: {error['call']}{where} "
                         f"failed: {error['reason']}{kept}\n")
    return EXIT_FAILED if failed else EXIT_OK
