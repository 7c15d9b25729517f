"""The one factory every operation's flow is built by, in any process.

TaskFlow records a flow's factory in the flow detail
(``taskflow.engines.save_factory_details``: the factory's import path and
its arguments) and builds the flow again from that record
(``taskflow.engines.flow_from_detail``). stackvault records
:func:`operation_flow` with JSON-only arguments, the same for a new
operation, a resume in another process and a conductor on another
machine:

``operation_id``  ``kind``  ``checkpoint_id``   what and on which checkpoint
``cloud``         the ``clouds.yaml`` entry it acts on (never credentials)
``parameters``    the user's parameters, as given
``policy``        rollback | keep

The flow is a function of those and of the checkpoint (the graph saved in
the bank), so its atom names (``TYPE#ID/step``) are the same every time
and a rebuilt flow finds its saved atoms. What is live is not an argument:
the connection, the bank, the plugins, the operation's journal and map of
new ids belong to the process that runs the flow, which lends them for the
build (:func:`rebuild`; :mod:`protection.operations.runner` does it for every
run). A build with nothing lent (a process that is not running the operation)
fails with :class:`NothingLent` instead of building a flow that has no cloud to
talk to.
"""

import threading

import taskflow.engines

from protection import exceptions

_lent = threading.local()


class NothingLent(exceptions.StackvaultError):
    """No process lent its live objects for this build."""


def arguments(op):
    """The factory's JSON arguments for an operation row."""
    args = op.args or {}
    return {"operation_id": op.id, "kind": op.kind,
            "checkpoint_id": op.checkpoint, "cloud": args.get("cloud"),
            "parameters": args.get("parameters") or {},
            "policy": args.get("policy")}


def operation_flow(operation_id, kind, checkpoint_id, cloud=None,
                   parameters=None, policy=None):
    """TaskFlow flow factory: the operation's flow, built with what the
    running process lent (see the module doc)."""
    build = getattr(_lent, "build", None)
    if build is None:
        raise NothingLent(
            f"the flow of operation {operation_id} can only be built by a "
            "process that runs it (stackvault, or a stackvault conductor)")
    built = build(dict(operation_id=operation_id, kind=kind,
                       checkpoint_id=checkpoint_id, cloud=cloud,
                       parameters=parameters or {}, policy=policy))
    _lent.built = built
    return built.flow


def recorded(flow_detail):
    """Whether the flow detail already names its factory."""
    return "factory" in (flow_detail.meta or {})


def record(flow_detail, backend, op):
    """Record :func:`operation_flow` and ``op``'s arguments in the flow
    detail (saved through ``backend``)."""
    taskflow.engines.save_factory_details(
        flow_detail, operation_flow, (), arguments(op), backend=backend)


def _with_lent(build, make):
    _lent.build = build
    _lent.built = None
    try:
        make()
        return _lent.built
    finally:
        _lent.build = None
        _lent.built = None


def rebuild(flow_detail, build):
    """Let TaskFlow build the flow from its recorded factory, with
    ``build(arguments)`` (returning a ``flows.builder.BuiltFlow``) lent
    for the call; return that BuiltFlow."""
    return _with_lent(
        build, lambda: taskflow.engines.flow_from_detail(flow_detail))


def build_unrecorded(op, build):
    """The same build for a run with no flow detail (in-memory engine)."""
    return _with_lent(build, lambda: operation_flow(**arguments(op)))
