"""The one factory every operation's flow is built by, in any process.

TaskFlow records a flow's factory in the flow detail
(``taskflow.engines.save_factory_details``: the factory's import path and
its arguments); stackvault builds the flow again from that record itself
(:func:`rebuild`, never TaskFlow's ``flow_from_detail``: below). It records
:func:`operation_flow` with JSON-only arguments, the same for a new
operation, a resume in another process and a conductor on another
machine:

``operation_id``  ``kind``  ``checkpoint_id``   what and on which checkpoint
``cloud``         the ``clouds.yaml`` entry it acts on (never credentials)
``trust_id``      or the Keystone trust it acts with (the API's operations
                  with a jobboard; an id, useless without the trustee's
                  password: :mod:`protection.auth`)
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

What a rebuild trusts. The flow detail is a row of the persistence
database, which every client that posts jobs can write. So
:func:`rebuild` never lets TaskFlow import the name the row holds
(``flow_from_detail`` would import and call any function, ``os.system``
included): it reads the record itself, accepts only stackvault's own
factory (:data:`FACTORY_NAMES`: this module's path and the path before the
0.2 layout move, which operations saved then record), checks the
arguments against :data:`ARGUMENTS_SCHEMA` and only then calls
:func:`operation_flow` directly. Anything else is a
:class:`RefusedFlowRecord` naming the operation.
"""

import threading

import jsonschema
import taskflow.engines

from flows import contract
from protection import exceptions

_lent = threading.local()

#: The factory names a flow detail may hold: this module's and the
#: pre-0.2 path (``protection/flow_factory.py``, an alias of this module).
FACTORY_NAMES = frozenset((
    "protection.operations.flow_factory.operation_flow",
    "protection.flow_factory.operation_flow",
))
_ID = {"type": "string", "minLength": 1, "maxLength": 255}
#: What :func:`arguments` records, and nothing more.
ARGUMENTS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["operation_id", "kind", "checkpoint_id"],
    "properties": {
        "operation_id": _ID,
        "kind": {"enum": list(contract.OPERATIONS)},
        "checkpoint_id": {"anyOf": [_ID, {"type": "null"}]},
        "cloud": {"anyOf": [_ID, {"type": "null"}]},
        "trust_id": {"anyOf": [{"type": "string", "minLength": 1,
                                "maxLength": 64,
                                "pattern": "^[0-9a-fA-F-]+$"},
                               {"type": "null"}]},
        "parameters": {"type": "object"},
        "policy": {"enum": [*contract.POLICIES, None]},
    },
}


class NothingLent(exceptions.StackvaultError):
    """No process lent its live objects for this build."""


class RefusedFlowRecord(exceptions.StackvaultError):
    """A flow detail whose factory record is not stackvault's own."""


def arguments(op):
    """The factory's JSON arguments for an operation row."""
    args = op.args or {}
    return {"operation_id": op.id, "kind": op.kind,
            "checkpoint_id": op.checkpoint, "cloud": args.get("cloud"),
            "trust_id": args.get("trust_id"),
            "parameters": args.get("parameters") or {},
            "policy": args.get("policy")}


def operation_flow(operation_id, kind, checkpoint_id, cloud=None,
                   parameters=None, policy=None, trust_id=None):
    """TaskFlow flow factory: the operation's flow, built with what the
    running process lent (see the module doc)."""
    build = getattr(_lent, "build", None)
    if build is None:
        raise NothingLent(
            f"the flow of operation {operation_id} can only be built by a "
            "process that runs it (stackvault, or a stackvault conductor)")
    built = build(dict(operation_id=operation_id, kind=kind,
                       checkpoint_id=checkpoint_id, cloud=cloud,
                       parameters=parameters or {}, policy=policy,
                       **({"trust_id": trust_id} if trust_id else {})))
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


def recorded_arguments(flow_detail, operation_id):
    """The arguments the flow detail records for :func:`operation_flow`,
    checked (see the module doc); raises :class:`RefusedFlowRecord`
    naming ``operation_id`` for anything else, having imported
    nothing."""
    def refuse(why):
        return RefusedFlowRecord(
            f"operation {operation_id}: its saved flow record is refused "
            f"({why}); nothing was run. The persistence database may have "
            "been tampered with: check who can write it; what the "
            "operation created is listed by 'stackvault operation show'")
    meta = flow_detail.meta if isinstance(flow_detail.meta, dict) else {}
    record = meta.get("factory")
    if not isinstance(record, dict):
        raise refuse("no factory recorded")
    name = record.get("name")
    if name not in FACTORY_NAMES:
        raise refuse(f"factory {str(name)[:80]!r} is not stackvault's")
    if record.get("args") or set(record) - {"name", "args", "kwargs"}:
        raise refuse("unexpected positional arguments or keys")
    kwargs = record.get("kwargs")
    try:
        jsonschema.validate(kwargs, ARGUMENTS_SCHEMA)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "arguments"
        raise refuse(f"{where}: {exc.message[:120]}") from None
    return kwargs


def rebuild(flow_detail, build, operation_id=None):
    """Build the flow from its recorded (and checked) arguments with
    ``build(arguments)`` (returning a ``flows.builder.BuiltFlow``) lent
    for the call; return that BuiltFlow. ``operation_id`` names the
    operation in a refusal (default: the flow detail's name)."""
    kwargs = recorded_arguments(flow_detail,
                                operation_id or flow_detail.name)
    return _with_lent(build, lambda: operation_flow(**kwargs))


def build_unrecorded(op, build):
    """The same build for a run with no flow detail (in-memory engine)."""
    return _with_lent(build, lambda: operation_flow(**arguments(op)))
