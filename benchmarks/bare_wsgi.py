"""The floor of the API benchmarks: a bare WSGI app answering a fixed
JSON body, nothing else (no middleware, no database, no policy).

``app`` is served by ``benchmarks/api_load.py`` the way it serves the API
(under gunicorn: ``benchmarks.bare_wsgi:app``; standalone: ``python
benchmarks/bare_wsgi.py PORT``, the standalone ``stackvault-api``'s server
class and request logging), so that the difference between the two is
what the API itself costs; ``benchmarks/api_cost.py`` calls it
in-process.
"""

import logging
import os
import sys

BODY = b'{"checkpoints": [], "next": null}'


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(BODY)))])
    return [BODY]


def main(argv=None):
    """Serve ``app`` on 127.0.0.1:PORT with stackvault-api's server
    class, logging each request at INFO to stderr as it does."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if root not in sys.path:
        sys.path.insert(0, root)
    from protection.api import server

    port = int((argv or sys.argv[1:])[0])
    logging.basicConfig(level=logging.INFO)
    httpd = server.make_server(None, app, "127.0.0.1", port)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
