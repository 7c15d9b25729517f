"""Build one TaskFlow flow for an operation over a whole resource graph.

Per resource R (plugin P(R)) the flow holds four nodes:

``R/on_prepare_begin``   hook            ``R/on_prepare_finish``  hook
``R/main``               ResourceStarted, P(R)'s flow, ResourceFinished
``R/on_complete``        hook

and, for every edge parent -> child, these orderings (doc/design.rst,
"Ordering"):

* ``parent/on_prepare_begin``  before ``child/on_prepare_begin``  (top-down)
* ``child/on_prepare_finish``  before ``parent/on_prepare_finish`` (bottom-up)
* every prepare hook before any main flow (the ``prepared`` barrier)
* restore only: ``child/main`` before ``parent/main``; in protect too when
  the parent's plugin sets ``protect_after_children``
* ``R/main`` before ``R/on_complete``; ``child/on_complete`` before
  ``parent/on_complete``

Anything not ordered runs concurrently under the parallel engine.

A plugin's flow is isolated: its atoms are renamed ``<type>#<id>/<name>``,
the framework values (``ctx``, ``conn``, ``metadata`` ...) are injected per
atom, and every other symbol an atom requires must come from the same
resource's flow (checked here, so a mistake is a clear error, not a value
silently taken from another resource).
"""

import dataclasses
import functools
import logging
import threading

from taskflow import atom as tf_atom
from taskflow import flow as tf_flow
from taskflow.patterns import graph_flow
from taskflow.patterns import linear_flow

from flows import atoms
from flows import contract
from flows import failure

LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class BuiltFlow:
    """The assembled flow and what is needed to explain its failures."""

    operation: str
    flow: tf_flow.Flow
    # atom name -> (resource, step shown to users)
    owners: dict
    contexts: dict           # resource key -> ResourceContext
    # atom name -> exception its revert raised (the rollback went on)
    revert_errors: dict = dataclasses.field(default_factory=dict)
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def revert_failed(self, atom_name, exc):
        with self._lock:
            self.revert_errors[atom_name] = exc

    def revert_failures(self):
        """The reverts that failed, as Failure objects (resource, step)."""
        with self._lock:
            errors = dict(self.revert_errors)
        return [failure.Failure(*self.owners.get(name, (None, name)),
                                failure.message_of(exc))
                for name, exc in sorted(errors.items())]


def iter_atoms(flow):
    """Every atom of ``flow``, recursing into subflows."""
    for node, _meta in flow.iter_nodes():
        if isinstance(node, tf_flow.Flow):
            yield from iter_atoms(node)
        else:
            yield node


def _iter_flows(flow):
    yield flow
    for node, _meta in flow.iter_nodes():
        if isinstance(node, tf_flow.Flow):
            yield from _iter_flows(node)


def _check_closed(flow, resource, operation):
    """Every requirement is injected or provided inside the same flow."""
    provided = set()
    for atom in iter_atoms(flow):
        provided.update(atom.provides)
    for atom in iter_atoms(flow):
        own = set((atom.inject or {}).keys())
        missing = set(atom.requires) - provided - own - set(
            contract.INJECTED_ARGS)
        if missing:
            raise contract.ContractError(
                f"{operation} flow of {resource}: task {atom.name!r} "
                f"requires {', '.join(sorted(missing))}, which no task of "
                "the same flow provides and the framework does not inject")


def _isolate(flow, ctx, prefix):
    """Rename the plugin's atoms and flows, inject the framework values."""
    injected = {
        "ctx": ctx, "resource": ctx.resource, "conn": ctx.conn,
        "bank": ctx.bank, "metadata": ctx.metadata,
        "parameters": ctx.parameters, "restored": ctx.restored,
    }
    owners = {}
    for sub in _iter_flows(flow):
        sub._name = f"{prefix}/{sub.name}"
    for atom in iter_atoms(flow):
        step = _step_name(atom)
        atom.name = f"{prefix}/{step}"
        wanted = {k: v for k, v in injected.items() if k in atom.requires
                  or k in getattr(atom, "optional", ())}
        atom.inject = {**wanted, **(atom.inject or {})}
        owners[atom.name] = (ctx.resource, step)
    return owners


def _tolerate_revert_errors(atom, built):
    """A revert that raises must not stop the rollback: TaskFlow would
    leave every other branch unreverted. The error is kept (what it could
    not undo is then listed as left behind) and the rollback goes on."""
    revert = atom.revert

    @functools.wraps(revert)
    def tolerant(*args, **kwargs):
        try:
            return revert(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            LOG.warning("revert of %s failed: %s", atom.name, exc)
            built.revert_failed(atom.name, exc)
    atom.revert = tolerant


def _step_name(atom):
    """What users see as the step: the task's name, or its class name when
    the task kept TaskFlow's default (the dotted class path)."""
    cls = type(atom)
    if atom.name == f"{cls.__module__}.{cls.__qualname__}":
        return cls.__name__
    return atom.name


def _plugin_flow(plugin, operation, ctx, resource):
    flow = plugin.flow_for(operation, ctx, resource)
    if flow is None:
        return None
    if isinstance(flow, tf_atom.Atom):
        flow = linear_flow.Flow(flow.name).add(flow)
    if not isinstance(flow, tf_flow.Flow):
        raise contract.ContractError(
            f"{type(plugin).__name__}.{operation}_flow returned "
            f"{type(flow).__name__}, not a TaskFlow flow or task")
    return flow


@dataclasses.dataclass
class _Nodes:
    """A resource's four nodes (see the module doc)."""

    begin: tf_atom.Atom
    finish: tf_atom.Atom
    main: tf_flow.Flow
    complete: tf_atom.Atom


def _resource_nodes(plugin, operation, ctx, resource, owners):
    label = contract.resource_label(resource)
    begin, finish, complete = (
        atoms.HookTask(plugin, hook, ctx, f"{label}/{hook}")
        for hook in contract.HOOKS)
    body = linear_flow.Flow(f"{label}/main")
    body.add(atoms.ResourceStarted(ctx, f"{label}/started"))
    plugin_flow = _plugin_flow(plugin, operation, ctx, resource)
    if plugin_flow is not None:
        _check_closed(plugin_flow, resource, operation)
        owners.update(_isolate(plugin_flow, ctx, label))
        body.add(plugin_flow)
    body.add(atoms.ResourceFinished(ctx, f"{label}/finished"))
    for hook in contract.HOOKS:
        owners[f"{label}/{hook}"] = (resource, hook)
    owners[f"{label}/started"] = (resource, "start")
    owners[f"{label}/finished"] = (resource, "finish")
    return _Nodes(begin, finish, body, complete)


def _link(whole, operation, graph, nodes, prepared, after_children):
    """Every ordering of the module doc, explicitly (no symbol linking:
    each resource's flow is closed, checked when it was isolated).
    ``after_children``: the types whose protect waits for its children's."""
    for resource in graph:
        own = nodes[resource.key]
        whole.link(own.begin, own.finish)
        whole.link(own.finish, prepared)
        whole.link(prepared, own.main)
        whole.link(own.main, own.complete)
    for parent, child in graph.edges():
        up, down = nodes[parent.key], nodes[child.key]
        whole.link(up.begin, down.begin)
        whole.link(down.finish, up.finish)
        whole.link(down.complete, up.complete)
        if operation == contract.RESTORE or (
                operation == contract.PROTECT
                and parent.type in after_children):
            whole.link(down.main, up.main)


def build(operation, graph, registry, make_context, abort=False):
    """Assemble the operation's flow over ``graph``.

    ``make_context(resource)`` returns the resource's ResourceContext.
    With ``abort``, an :class:`~flows.atoms.Abort` atom precedes every node:
    run on an interrupted operation's saved state, it reverts what ran.
    """
    if operation not in contract.OPERATIONS:
        raise ValueError(f"unknown operation {operation!r}")
    whole = graph_flow.Flow(f"{operation}")
    owners, contexts, nodes = {}, {}, {}
    prepared = atoms.Barrier(name="prepared")
    for resource in graph.bottom_up():
        ctx = make_context(resource)
        contexts[resource.key] = ctx
        nodes[resource.key] = _resource_nodes(
            registry.get(resource.type), operation, ctx, resource, owners)
    every = [prepared] + [node for own in nodes.values() for node in (
        own.begin, own.finish, own.main, own.complete)]
    whole.add(*every, resolve_requires=False, resolve_existing=False)
    after_children = {r.type for r in graph
                      if getattr(registry.get(r.type),
                                 "protect_after_children", False)}
    _link(whole, operation, graph, nodes, prepared, after_children)
    if abort:
        stop = atoms.Abort(name="abort")
        whole.add(stop, resolve_requires=False, resolve_existing=False)
        for node in every:
            whole.link(stop, node)
    built = BuiltFlow(operation=operation, flow=whole, owners=owners,
                      contexts=contexts)
    for atom in iter_atoms(whole):
        _tolerate_revert_errors(atom, built)
    return built
