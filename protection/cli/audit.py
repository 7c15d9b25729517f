"""``stackvault audit list [--limit N]``: the audit trail of destructive
actions (deletes, prunes, aborts, undos), newest first, from the
persistence database (:mod:`protection.operations.audit`).

The embedded CLI shows every record of its database; an operator of a
shared deployment reads the same table (an admin API route may follow).
"""

import argparse

from protection.cli import output

MAX_LIMIT = 1000000
COLUMNS = [("When", "at"), ("Actor", "actor"), ("Action", "action"),
           ("Target", "target"), ("Resources", "resources"),
           ("Outcome", "outcome"), ("Detail", "detail")]


def _limit(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 1 to {MAX_LIMIT}, got {text!r}")
    return value


def register(subparsers, fmt_parent):
    """Add ``audit`` and its action to the CLI's subparsers."""
    parser = subparsers.add_parser(
        "audit", help="who deleted, pruned or aborted what, and when")
    sub = parser.add_subparsers(dest="action", metavar="ACTION",
                                parser_class=type(parser))
    sub.required = True
    listing = sub.add_parser("list", parents=[fmt_parent],
                             help="audit records, newest first")
    listing.add_argument("--limit", type=_limit, metavar="N",
                         help="at most N records (default: all)")


def run(app, args):
    records = app.service.audit_records(args.limit)
    if args.format in ("json", "yaml"):
        app.print(output.render_one([r.to_dict() for r in records],
                                    args.format))
        return 0
    rows = [[r.to_dict()[key] for _title, key in COLUMNS] for r in records]
    app.print(output.render_list([t for t, _key in COLUMNS], rows,
                                 args.format))
    return 0
