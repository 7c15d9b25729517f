"""``stackvault-api`` (and ``stackvault api``): the API in one process.

Serves :mod:`.wsgi`'s application with the standard library's WSGI
server, one thread per connection, on ``[api] host``:``[api] port``
(8799). Without a jobboard the operations run in this process
(:mod:`.workers`); on SIGTERM or Ctrl-C it stops accepting requests and
the operations still running become ``interrupted`` (resumable).
For production, prefer a WSGI server (doc/deployment.rst).
"""

import argparse
import logging
import socketserver
import sys
from wsgiref import simple_server

from protection import exceptions
from protection import api
from protection.api import wsgi

LOG = logging.getLogger(__name__)


class ThreadingWSGIServer(socketserver.ThreadingMixIn,
                          simple_server.WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class QuietHandler(simple_server.WSGIRequestHandler):
    """Request lines to the log (never the query's token: there is
    none, tokens travel in headers), not to stderr."""

    def log_message(self, format, *args):   # noqa: A002 - stdlib's name
        LOG.info("%s %s", self.address_string(), format % args)


def make_server(conf, app, host=None, port=None):
    return simple_server.make_server(
        host or conf.api.host, port if port is not None else conf.api.port,
        app, server_class=ThreadingWSGIServer, handler_class=QuietHandler)


def serve(config_files, host=None, port=None):
    """Serve until interrupted; returns the exit code."""
    conf = wsgi.load_conf(config_files)
    app = wsgi.make_app(conf)
    server = make_server(conf, app, host, port)
    LOG.info("stackvault-api listening on %s:%s", *server.server_address)
    print(f"stackvault-api listening on http://{server.server_address[0]}:"
          f"{server.server_address[1]}/", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="stackvault-api",
        description="Serve the stackvault data-protection API.")
    parser.add_argument("--config-file", action="append", metavar="PATH",
                        help="stackvault.conf to read (repeatable)")
    api.add_server_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    try:
        return serve(args.config_file, args.host, args.port)
    except exceptions.StackvaultError as exc:
        print(f"stackvault-api: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"stackvault-api: cannot listen: {exc}", file=sys.stderr)
        return 2
