"""``stackvault plugin``: which protection plugins are installed, offline.

::

    stackvault plugin list
    stackvault plugin show TYPE      (a resource type or an entry point name)

Neither needs a cloud, a ``clouds.yaml``, a configuration file or the
operations database: each plugin's entry point is imported and its class
checked against the contract as the service would at start
(:mod:`protection.plugin.inventory`). ``list`` shows each plugin's type,
entry point, class, source file and distribution; ``show`` adds its
parameter and metadata JSON Schemas and its declared quota names. A
plugin that does not load is shown with its error, and reported on
stderr in one line; the exit code is then 1 (the service would refuse to
start).
"""

import json

from protection.cli import output
from protection.cli.lazy import LazyModule

# Importing the plugins imports openstacksdk and TaskFlow: only when asked.
inventory = LazyModule("protection.plugin.inventory")

# protection.cli.main's exit codes
EXIT_OK, EXIT_FAILED = 0, 1
COLUMNS = [("Type", "type"), ("Entry point", "entry_point"),
           ("Class", "class"), ("Source", "source"),
           ("Distribution", "distribution"), ("Status", "status")]
SCHEMAS = ("options_schema", "restore_schema", "metadata_schema")


def register(subparsers, fmt_parent):
    """Add ``plugin`` and its actions to the CLI's subparsers."""
    parser = subparsers.add_parser(
        "plugin", help="installed protection plugins (offline)")
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    sub.add_parser("list", parents=[fmt_parent],
                   help="list the installed plugins and whether they load")
    show = sub.add_parser("show", parents=[fmt_parent],
                          help="a plugin's source, schemas and quota names")
    show.add_argument("plugin", metavar="TYPE",
                      help="resource type (OS::Nova::KeyPair) or entry "
                           "point name (keypair)")
    return parser


def run(app, args):
    return {"list": _list, "show": _show}[args.action](app, args)


def _warn(app, plugins):
    """One line on stderr per plugin that does not load; the exit code."""
    failed = [p for p in plugins if p.error]
    for plugin in failed:
        app.stderr.write(f"stackvault: plugin {plugin.entry_point!r} "
                         f"({plugin.target}) does not load: "
                         f"{plugin.error}\n")
    return EXIT_FAILED if failed else EXIT_OK


def _list(app, args):
    plugins = inventory.installed()
    rows = [[plugin.summary()[key] for _title, key in COLUMNS]
            for plugin in plugins]
    app.print(output.render_list([title for title, _key in COLUMNS], rows,
                                 args.format))
    return _warn(app, plugins)


def _show(app, args):
    plugins = inventory.installed()
    plugin = inventory.find(plugins, args.plugin)
    data = plugin.details()
    if args.format not in ("json", "yaml"):
        # A schema is read as indented JSON, one property a line.
        for key in SCHEMAS:
            data[key] = json.dumps(data[key], indent=2, sort_keys=True)
    app.print(output.render_one(data, args.format))
    return _warn(app, [plugin])
