"""The Heat datasource: Heat's read API as tables (read-only).

Every call is an HTTP GET through openstacksdk's orchestration proxy
(``conn.orchestration.get(path)``), with the connection's authentication,
endpoint discovery and retries. The proxy's typed calls are not used
because, checked against openstacksdk 4.22: there is no call for resource
show, resource metadata, resource types, stack snapshots or event show;
``resources()`` silently drops ``nested_depth``; its typed objects drop the
fields they do not declare (a resource's ``creation_time`` and
``parent_resource``, an event's ``resource_type``); and ``resources(name)``
and ``stack_events(name)`` make a hidden lookup call each, which would
break the call bound below. Raw GETs keep Heat's own field names, the ones
of Heat's API reference and of ``openstack stack show``, which the tables
use as column names.

Cost of one poll (see :data:`~protection.datasources.heat.calls.CALLS`).
With S stacks (``GET /stacks``, which does not list nested stacks), R_s
resources of stack s up to ``nested_depth`` (nested stacks' resources
included), E_s its events up to the same depth, K =
``max_event_details``, C software configs and D software deployments, a
full poll makes::

    4 + C + D + sum over s of (4 + 2 * R_s + min(E_s, K))

calls: ``GET /stacks``, ``/resource_types``, ``/software_configs``,
``/software_deployments``, one show per config and per deployment; per
stack its show, snapshots, resources and events, a show and a metadata
call per resource, and a show for each of its K newest events. ``only``
drops every call that no asked-for table needs (``resource_types`` alone
is one call; ``stacks`` is ``1 + S``). At most ``max_workers`` calls run
at the same time.

A call that fails (HTTP error, connection error, a body of the wrong
shape) does not fail the poll: the rows it would have given are missing,
and a row of ``poll_errors`` says which stack, which call, which tables and
why. Rows are only ever added per whole response, never half of one.

:func:`stack_physical_resources` is the one-call-per-stack view of the
``resources`` table that the Heat stack protectable uses to find what a
stack built.
"""

from oslo_config import cfg

from protection.datasources import Datasource
from protection.datasources.heat import poller
from protection.datasources.heat import stacks
from protection.datasources.heat.calls import CALLS
from protection.datasources.heat.tables import CATALOG

NAME = "heat"

heat_opts = [
    cfg.IntOpt("max_workers", default=4, min=1, max=64,
               help="How many Heat API calls one poll makes at the same "
                    "time."),
    cfg.IntOpt("nested_depth", default=5, min=0, max=100,
               help="How deep into nested stacks resources and events are "
                    "read (Heat's nested_depth; 0: only each stack's own)."),
    cfg.IntOpt("max_event_details", default=10, min=0,
               help="Per stack, how many of the newest events are read in "
                    "detail (one call each) for the event_details table."),
]


class HeatDatasource(Datasource):
    """Heat's read API (stacks, resources, events, software configs) as
    tables."""

    name = NAME
    config_group = "heat_datasource"
    config_opts = heat_opts
    catalog = CATALOG
    calls = CALLS
    api_functions = (stacks.stack_physical_resources,)

    def __init__(self, conn, conf=None, **overrides):
        """``overrides`` (max_workers, nested_depth, max_event_details)
        win over ``conf``'s ``[heat_datasource]`` options."""
        self.conn = conn
        settings = {opt.dest: opt.default for opt in heat_opts}
        if conf is not None:
            group = getattr(conf, self.config_group, None)
            if group is not None:
                settings = {k: getattr(group, k) for k in settings}
        unknown = set(overrides) - set(settings)
        if unknown:
            raise TypeError(f"unknown option(s) {', '.join(sorted(unknown))}")
        settings.update(overrides)
        self.max_workers = settings["max_workers"]
        self.nested_depth = settings["nested_depth"]
        self.max_event_details = settings["max_event_details"]

    def poll(self, only=None):
        """Read Heat once; only the tables in ``only`` (default: all)."""
        wanted = list(self.tables()) if only is None else list(only)
        self.check_tables(wanted)
        return poller.Poll(self, set(wanted)).run()

