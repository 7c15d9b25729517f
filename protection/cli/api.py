"""``stackvault api``: serve the protection API from this process (the
same as ``stackvault-api``, :mod:`protection.api.server`)."""

import importlib

from protection import api


def register(sub):
    one = sub.add_parser("api", help="serve the data-protection REST API "
                                     "(port 8799 by default)")
    api.add_server_arguments(one)


def run(app, args):
    server = importlib.import_module("protection.api.server")
    return server.serve(app.args.config_file, args.host, args.port)
