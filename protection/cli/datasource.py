"""``stackvault datasource``: cloud APIs as read-only tables.

::

    stackvault datasource list
    stackvault datasource tables NAME
    stackvault datasource show NAME TABLE [--column COLUMN=VALUE ...]

``show`` polls only what TABLE needs (``show heat poll_errors`` polls
everything, to show every call that fails). ``--column`` keeps the rows
whose COLUMN reads exactly VALUE (as printed; repeat it to require
several). When calls failed, the rows that could be read are printed, each
failure is reported on stderr in one line, and the exit code is 1.
"""

import argparse
import textwrap

from protection import config
from protection import datasources
from protection import exceptions
from protection.cli import output

# protection.cli.main's exit codes
EXIT_OK, EXIT_FAILED = 0, 1


def _assignment(text):
    column, sep, value = text.partition("=")
    if not sep or not column:
        raise argparse.ArgumentTypeError(
            f"expected COLUMN=VALUE, got {text!r}")
    return column, value


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
    errors_table = "poll_errors"
    only = None if args.table == errors_table else [args.table]
    result = source.poll(only=only)
    rows = [r for r in result.rows(args.table) if _matches(r, args.column)]
    app.print(output.render_list(
        list(table.columns), [[r.get(c) for c in table.columns] for r in rows],
        args.format))
    if args.table == errors_table:
        return EXIT_OK
    failed = [e for e in result.errors
              if args.table in (e.get("tables") or "").split(", ")]
    for error in failed:
        where = f" (stack {error['stack_name']})" if error.get(
            "stack_name") else ""
        app.stderr.write(f"stackvault: warning: {error['call']}{where} "
                         f"failed: {error['reason']}\n")
    return EXIT_FAILED if failed else EXIT_OK
