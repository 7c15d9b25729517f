"""The protection API: stackvault as a REST service for tenants.

Layer: above :mod:`protection.service` (every request is turned into a
call of :class:`~protection.service.ProtectionService`, with a cloud
connection built from the caller's token) and beside :mod:`protection.
cli` (the other way in). Nothing below this package imports it.

* :mod:`.wsgi`: the WSGI entry point (``application``) and its middleware
  pipeline; :mod:`.server`: ``stackvault-api``, the standalone server;
* :mod:`.app`: the application (routing, microversions, JSON errors),
  :mod:`.routes` its route table, :mod:`.handlers` the routes' code;
* :mod:`.policies`: oslo.policy defaults in code, :mod:`.scope` who may
  see which project's objects (another project's object is 404);
* :mod:`.schemas` request validation, :mod:`.openapi` the OpenAPI
  document made from the route table, :mod:`.workers` the pool that runs
  operations when no jobboard is configured, :mod:`.delegation` posting
  them to one with a Keystone trust of the caller's
  (:mod:`protection.auth`) when it is.

The reference is ``doc/api-ref.rst``; deployment in ``doc/deployment.rst``.
"""

DEFAULT_PORT = 8799


def add_server_arguments(parser):
    """``--host`` and ``--port`` of ``stackvault-api`` and ``stackvault
    api`` (here, where the CLI can read them without importing the API's
    libraries)."""
    parser.add_argument("--host", help="address to listen on "
                                       "(default [api] host)")
    parser.add_argument("--port", type=int,
                        help=f"port (default [api] port, {DEFAULT_PORT})")
