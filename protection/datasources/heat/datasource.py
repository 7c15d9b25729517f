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
the resources and E_s the events of stack s up to ``nested_depth``
(nested stacks' included), K = ``max_event_details`` and C software
configs, a datasource object's first poll (and every full refresh)
makes::

    4 + C + sum over s of (4 + R_s + min(E_s, K))

calls: ``GET /stacks``, ``/resource_types``, ``/software_configs``,
``/software_deployments`` (which carries the deployments whole), one show
per config; per stack its show (``resolve_outputs=false`` unless
``stack_outputs`` is asked for), snapshots, resources (``with_detail``
when resource attributes are asked for: the list then carries them) and
events (oldest first), a metadata call per resource (Heat's API leaves
metadata out of every resource answer but that one) and a show for each
of its K newest events. An attribute or deployment that a list answer
leaves out is read with its own call; Heat 27 leaves none out.

Its next polls (until the next full refresh, every ``full_refresh_polls``
polls) make::

    4 + C_new + sum over changed stacks s of (4 + R_s + min(En_s, K))

where a changed stack is one whose name, ``updated_time`` or
``stack_status`` differs from the previous poll, or that is in progress
(``*_IN_PROGRESS``); C_new the configs not read before (Heat never changes
a software config); En_s the events of stack s after the newest one read
(``marker``; only an event not read in detail before gets a show). The
answers of an unchanged stack are reused. A change Heat does not mark
with a new ``updated_time`` or status (a resource's metadata or attribute
values changed outside an update, events Heat purged) shows at the next
full refresh. The opt-in ``templates`` table adds one call per (changed)
stack. ``only`` drops every call that no asked-for table needs
(``resource_types`` alone is one call; ``stacks`` is ``1 + S``). At most
``max_workers`` calls run at the same time.

A call that fails (HTTP error, connection error, a body of the wrong
shape) does not fail the poll: the rows the same call gave at the
previous poll of the same datasource object are kept in their place and
the tables marked stale (``PollResult.stale``), or, when there was no
such poll, the rows are missing and the tables marked incomplete; a row of
``poll_errors`` says which stack, which call, which tables, why and how
many rows were kept. Rows are only ever added per whole response, never
half of one.

Using it as a library (stale tables, diffs of two polls, a poll loop) and
measured costs: ``doc/datasources/library.rst``.

:func:`stack_physical_resources` is the one-call-per-stack view of the
``resources`` table that the Heat stack protectable uses to find what a
stack built.
"""

import threading

from oslo_config import cfg

from protection.datasources import Datasource
from protection.datasources.heat import poller
from protection.datasources.heat import stacks
from protection.datasources.heat.calls import CALLS
from protection.datasources.heat.tables import CATALOG
from protection.datasources.heat.tables import OPT_IN

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
    cfg.IntOpt("full_refresh_polls", default=10, min=1,
               help="Every this many polls, a datasource object reads "
                    "everything again instead of reusing the answers of "
                    "unchanged stacks, read events and software configs "
                    "(1: every poll reads everything)."),
]


class HeatDatasource(Datasource):
    """Heat's read API (stacks, resources, events, software configs) as
    tables."""

    name = NAME
    config_group = "heat_datasource"
    config_opts = heat_opts
    catalog = CATALOG
    opt_in = OPT_IN
    calls = CALLS
    api_functions = (stacks.stack_physical_resources,)

    def __init__(self, conn, conf=None, **overrides):
        """``overrides`` (max_workers, nested_depth, max_event_details,
        full_refresh_polls) win over ``conf``'s ``[heat_datasource]``
        options."""
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
        self.full_refresh_polls = settings["full_refresh_polls"]
        self._lock = threading.Lock()
        self.reset()

    def reset(self):
        """Forget the previous poll: the next one reads everything."""
        self._state = None
        self._since_full = 0
        self._last_wanted = None

    def poll(self, only=None):
        """Read Heat once; only the tables in ``only`` (default: all but
        the opt-in ones). Polls of one object run one at a time; each
        starts from the previous one when it asked for the same tables."""
        wanted = self.default_tables() if only is None else list(only)
        self.check_tables(wanted)
        wanted = set(wanted)
        with self._lock:
            previous = self._state if wanted == self._last_wanted else None
            full = previous is None or \
                self._since_full + 1 >= self.full_refresh_polls
            result, self._state = poller.Poll(self, wanted, previous,
                                              full).run()
            self._last_wanted = wanted
            self._since_full = 0 if full else self._since_full + 1
        return result
