"""``stackvault-api`` (and ``stackvault api``): the API in one process.

Serves :mod:`.wsgi`'s application with the standard library's WSGI
server, one thread per connection, on ``[api] host``:``[api] port``
(8799). Without a jobboard the operations run in this process
(:mod:`.workers`; with one they are posted for the conductors, and only
plan runs do); on
SIGTERM or Ctrl-C it stops accepting requests, suspends the operations
still running at their next task boundary and exits: they are
``interrupted`` (resumable, or abortable through the API).
For production, prefer a WSGI server (doc/deployment.rst).
"""

import argparse
import logging
import signal
import socketserver
import sys
import threading
from wsgiref import simple_server

from protection import exceptions
from protection import api
from protection.api import workers
from protection.api import wsgi

LOG = logging.getLogger(__name__)


class ThreadingWSGIServer(socketserver.ThreadingMixIn,
                          simple_server.WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default listen backlog is 5: 50 clients connecting
    # at once overflow it and wait for SYN retries (1 s, 3 s), which made
    # the p99 of benchmarks/api_load.py seconds instead of milliseconds.
    request_queue_size = 128


class QuietHandler(simple_server.WSGIRequestHandler):
    """Request lines to the log (never the query's token: there is
    none, tokens travel in headers), not to stderr."""

    def log_message(self, format, *args):   # noqa: A002 - stdlib's name
        LOG.info("%s %s", self.address_string(), format % args)


def make_server(conf, app, host=None, port=None):
    return simple_server.make_server(
        host or conf.api.host, port if port is not None else conf.api.port,
        app, server_class=ThreadingWSGIServer, handler_class=QuietHandler)


def stop_operations(service, pool):
    """Suspend the operations this process runs at their next task
    boundary and wait for their workers: each is left ``interrupted``
    (resumable, or abortable through the API), never half-recorded."""
    service.runner.stop()
    pool.shutdown(wait=True)


def serve(config_files, host=None, port=None):
    """Serve until SIGTERM or Ctrl-C; returns the exit code."""
    conf = wsgi.load_conf(config_files)
    pool = workers.WorkerPool(conf.api.operation_workers,
                              conf.api.max_queued_operations)
    service = wsgi.build_service(conf, pool)
    server = make_server(conf, wsgi.make_app(conf, service, pool=pool),
                         host, port)
    signal.signal(signal.SIGTERM, lambda _signum, _frame: threading.Thread(
        target=server.shutdown, daemon=True).start())
    LOG.info("stackvault-api listening on %s:%s", *server.server_address)
    print(f"stackvault-api listening on http://{server.server_address[0]}:"
          f"{server.server_address[1]}/", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        stop_operations(service, pool)
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
