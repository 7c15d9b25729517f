"""Build one TaskFlow flow for an operation over a whole resource graph.

Per resource R (plugin P(R)) the flow holds these atoms:

``R/on_prepare_begin``   hook            ``R/on_prepare_finish``  hook
``R/started``            marker          P(R)'s atoms, in their own order
``R/finished``           marker, provides R's restored id
``R/on_complete``        hook

(``R/started`` .. ``R/finished`` is R's *main flow*). A hook is an atom
only when P(R) defines it (``contract.defines_hook``: the base plugin's
are no-ops): a restore of ten resources whose plugins define none runs
no hook step and saves no state for one. The orderings below hold
between the hooks that exist, through the resources whose plugins
define none (a hook's nearest ancestors or descendants that have one).
For every edge parent -> child (doc/design.rst, "Ordering"):

* ``parent/on_prepare_begin``  before ``child/on_prepare_begin``  (top-down)
* ``child/on_prepare_finish``  before ``parent/on_prepare_finish`` (bottom-up)
* every prepare hook before any main flow (the ``prepared`` barrier, there
  when some resource has a prepare hook)
* a task of the parent that requires ``restored_child(type, id)`` of the
  child runs after ``child/finished`` and receives the child's new id;
* restore only: ``child/finished`` before ``parent/started``, unless a task
  of the parent names a child (the parent is *pipelined*: its tasks wait
  only for the children they name); then ``child/finished`` before
  ``parent/finished``
* protect, when the parent's plugin sets ``protect_after_children``: the
  child's atoms tagged ``BEFORE_PARENT`` before ``parent/started``, and
  ``parent/finished`` before its atoms tagged ``AFTER_PARENT``
  (``flows/contract.py``); its untagged atoms run alongside the parent's.
  A child with no tagged atom, or that a task of the parent names:
  ``child/finished`` before ``parent/started``. An ``AFTER_PARENT`` atom
  ordered before a ``BEFORE_PARENT`` one of the same flow is a contract
  error
* ``R/finished`` before ``R/on_complete``; ``child/on_complete`` before
  ``parent/on_complete`` (a child without one: its ``finished``, and its
  own children's ``on_complete`` or, without, ``finished``, down)
* restore only: every ``R/finished`` and ``R/on_complete`` before
  ``unmark``, the restore's
  last stage (:class:`flows.atoms.Unmark`): each plugin atom that
  defines ``unmark(ctx, conn)`` (``contract.UNMARK``) takes the marks
  off what it created. Until then, everything the restore made carries
  them, so that any undo (a rollback, an abort, a resumed rollback) can
  prove an object is this operation's before deleting it. The stage
  never fails; what it could not do is reported (``unmark_failures``
  here, and what the atoms note themselves)

Anything not ordered runs concurrently under the parallel engine. Every
atom is a node of one graph flow (``flows/flatten.py``): TaskFlow links
only nodes of the same graph, and a task must be linkable to a child's
``finished``.

A plugin's flow is isolated: its atoms are renamed ``<type>#<id>/<name>``,
its symbols ``<type>#<id>/<symbol>``, the framework values (``ctx``,
``conn``, ``metadata`` ...) are injected per atom, and every other symbol
an atom requires must come from the same resource's flow or name a child
(checked here, so a mistake is a clear error, not a value silently taken
from another resource).
"""

import dataclasses
import functools
import logging
import threading

from taskflow import atom as tf_atom
from taskflow import flow as tf_flow
from taskflow.patterns import graph_flow
from taskflow.patterns import linear_flow
from taskflow.types import graph as tf_graph

from flows import atoms
from flows import contract
from flows import failure
from flows import flatten

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
    # atom name -> exception its unmark raised (the restore stands)
    unmark_errors: dict = dataclasses.field(default_factory=dict)
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def revert_failed(self, atom_name, exc):
        with self._lock:
            self.revert_errors[atom_name] = exc

    def unmark_failed(self, atom_name, exc):
        with self._lock:
            self.unmark_errors[atom_name] = exc

    def unmark_failures(self):
        """The unmarks that raised, as Failure objects (resource, step)."""
        with self._lock:
            errors = dict(self.unmark_errors)
        return [failure.Failure(*self.owners.get(name, (None, name)),
                                failure.message_of(exc))
                for name, exc in sorted(errors.items())]

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


def _check_closed(flow, resource, operation):
    """Every requirement is injected or provided inside the same flow."""
    provided = set()
    for atom in iter_atoms(flow):
        provided.update(atom.provides)
    for atom in iter_atoms(flow):
        own = set((atom.inject or {}).keys())
        missing = {symbol for symbol in atom.requires
                   if not symbol.startswith(contract.CHILD_PREFIX)}
        missing -= provided | own | set(contract.INJECTED_ARGS)
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
    """A resource's atoms (see the module doc); a hook its plugin does
    not define is ``None``."""

    begin: tf_atom.Atom
    finish: tf_atom.Atom
    started: tf_atom.Atom
    finished: tf_atom.Atom
    complete: tf_atom.Atom
    atoms: list              # the plugin's atoms, flattened
    edges: list              # their orderings

    def every(self):
        return [atom for atom in (self.begin, self.finish, self.started,
                                  *self.atoms, self.finished, self.complete)
                if atom is not None]

    def prepares(self):
        """The resource's prepare hooks (those it has)."""
        return [atom for atom in (self.begin, self.finish)
                if atom is not None]

    def completed(self):
        """The atom after which the resource counts as complete."""
        return self.complete or self.finished

    def tagged(self, order):
        """The plugin's atoms tagged ``order`` (contract.parent_order)."""
        return [atom for atom in self.atoms
                if contract.parent_order(atom) == order]

    def needs(self):
        """atom -> labels of the children it names (restored_child)."""
        found = {}
        for atom in self.atoms:
            labels = flatten.children_needed(atom)
            if labels:
                found[atom] = labels
        return found


def _check_parent_orders(own, resource):
    """No task tagged AFTER_PARENT precedes, in the resource's own order,
    one tagged BEFORE_PARENT: the parent would wait for itself."""
    following = {}
    for before, after in own.edges:
        following.setdefault(id(before), []).append(after)
    for late in own.tagged(contract.AFTER_PARENT):
        stack, seen = [late], set()
        while stack:
            for atom in following.get(id(stack.pop()), ()):
                if contract.parent_order(atom) == contract.BEFORE_PARENT:
                    raise contract.ContractError(
                        f"protect flow of {resource}: task {atom.name!r} "
                        f"is tagged {contract.BEFORE_PARENT} but comes "
                        f"after {late.name!r}, tagged "
                        f"{contract.AFTER_PARENT}")
                if id(atom) not in seen:
                    seen.add(id(atom))
                    stack.append(atom)


def _resource_nodes(plugin, operation, ctx, resource, owners):
    label = contract.resource_label(resource)
    begin, finish, complete = (
        atoms.HookTask(plugin, hook, ctx, f"{label}/{hook}")
        if contract.defines_hook(plugin, hook) else None
        for hook in contract.HOOKS)
    started = atoms.ResourceStarted(ctx, f"{label}/started")
    finished = atoms.ResourceFinished(
        ctx, f"{label}/finished",
        provides=contract.restored_child(resource.type, resource.id))
    plugin_atoms, edges = [], []
    plugin_flow = _plugin_flow(plugin, operation, ctx, resource)
    if plugin_flow is not None:
        _check_closed(plugin_flow, resource, operation)
        owners.update(_isolate(plugin_flow, ctx, label))
        plugin_atoms, edges = flatten.flatten(plugin_flow)
        flatten.scope_symbols(plugin_atoms, label)
    for hook, atom in zip(contract.HOOKS, (begin, finish, complete)):
        if atom is not None:
            owners[atom.name] = (resource, hook)
    owners[f"{label}/started"] = (resource, "start")
    owners[f"{label}/finished"] = (resource, "finish")
    own = _Nodes(begin, finish, started, finished, complete, plugin_atoms,
                 edges)
    if operation == contract.PROTECT:
        _check_parent_orders(own, resource)
    return own


def _link_main(links, own):
    """``started``, the plugin's atoms in their own order, ``finished``."""
    links.extend(own.edges)
    sources, sinks = flatten.ends(own.atoms, own.edges)
    links.extend((own.started, atom) for atom in sources or [own.finished])
    links.extend((atom, own.finished) for atom in sinks)


def _link_children(links, operation, graph, nodes, parent,
                   after_children):
    """A task naming a child runs after that child's main flow; a child it
    does not name is not visible to it (its symbol is None). In a restore,
    a parent none of whose tasks names a child waits for every child."""
    up = nodes[parent.key]
    children = {contract.resource_label(c): nodes[c.key]
                for c in graph.children(parent)}
    needs = up.needs()
    for atom, labels in needs.items():
        for label in sorted(labels):
            if label in children:
                links.append((children[label].finished, atom))
            else:
                atom.inject = {**(atom.inject or {}),
                               contract.CHILD_PREFIX + label: None}
    if operation == contract.RESTORE:
        target = up.finished if needs else up.started
        links.extend((down.finished, target) for down in children.values())
    elif operation == contract.PROTECT and parent.type in after_children:
        named = set().union(*needs.values())
        for label, down in children.items():
            links.extend(_around_parent(up, down, label in named))


def _around_parent(up, down, named):
    """Protect under a parent that asks (``protect_after_children``): the
    child's tagged tasks around the parent's main flow; the child's whole
    main flow before it when none is tagged, or when a task of the parent
    names the child (that task already waits for the child's ``finished``:
    tasks after the parent's would make a cycle)."""
    before = down.tagged(contract.BEFORE_PARENT)
    after = down.tagged(contract.AFTER_PARENT)
    if named or not (before or after):
        return [(down.finished, up.started)]
    return ([(atom, up.started) for atom in before]
            + [(up.finished, atom) for atom in after])


def _nearest(start, step, has):
    """The resources nearest to ``start`` along ``step`` (its parents or
    its children) for which ``has(resource)``, looking through the ones
    without: the hooks that exist keep the order of the graph."""
    found, seen, stack = [], set(), list(step(start))
    while stack:
        resource = stack.pop()
        if resource.key in seen:
            continue
        seen.add(resource.key)
        if has(resource):
            found.append(resource)
        else:
            stack.extend(step(resource))
    return found


def _below(graph, nodes, resource):
    """What ``resource``'s ``on_complete`` waits for below it: each
    child's ``on_complete``, or for a child without one its ``finished``
    and, in the same way, its own children's (down to the leaves)."""
    found, seen, stack = [], set(), list(graph.children(resource))
    while stack:
        child = stack.pop()
        if child.key in seen:
            continue
        seen.add(child.key)
        down = nodes[child.key]
        found.append(down.completed())
        if down.complete is None:
            stack.extend(graph.children(child))
    return found


def _hook_links(graph, nodes, prepared):
    """The hooks' orderings (module doc), between the hooks that exist."""
    parents = {}
    for parent, child in graph.edges():
        parents.setdefault(child.key, []).append(parent)
    links = []
    for resource in graph:
        own = nodes[resource.key]
        links += [(hook, prepared) for hook in own.prepares()]
        if own.begin is not None:
            if own.finish is not None:
                links.append((own.begin, own.finish))
            links += [(nodes[up.key].begin, own.begin) for up in _nearest(
                resource, lambda r: parents.get(r.key, ()),
                lambda r: nodes[r.key].begin is not None)]
        if own.finish is not None:
            links += [(nodes[down.key].finish, own.finish)
                      for down in _nearest(
                          resource, graph.children,
                          lambda r: nodes[r.key].finish is not None)]
        if own.complete is not None:
            links += [(own.finished, own.complete)]
            links += [(below, own.complete)
                      for below in _below(graph, nodes, resource)]
    return links


def _links(operation, graph, nodes, prepared, after_children):
    """Every ordering of the module doc, explicitly (no symbol linking:
    each resource's flow is closed, checked when it was isolated).
    ``after_children``: the types whose protect waits for its children's.
    ``prepared``: the barrier after every prepare hook, ``None`` when no
    resource has one."""
    links = []
    for resource in graph:
        own = nodes[resource.key]
        if prepared is not None:
            links.append((prepared, own.started))
        _link_main(links, own)
        _link_children(links, operation, graph, nodes, resource,
                       after_children)
    return links + _hook_links(graph, nodes, prepared)


def _link_all(whole, links):
    """``whole.link`` for every pair, at once: ``graph_flow.Flow.link``
    copies and re-checks the whole graph for each link (quadratic in the
    number of atoms); here every link goes into one copy, checked for
    cycles once (``_swap``)."""
    graph = tf_graph.DiGraph(whole._graph)
    for before, after in links:
        graph.add_edge(before, after, **{tf_flow.LINK_MANUAL: True})
    whole._swap(graph)


def _unmark_stage(nodes, contexts, built, abort):
    """The restore's last atom (see the module doc): the plugin atoms that
    define ``unmark``, each with its resource's context. In an abort's
    flow it does nothing (TaskFlow may run again an atom that was running
    when the process died before it reverts the flow: an abort must never
    take a mark off what it is about to prove and delete)."""
    if abort:
        return atoms.Unmark([], built.unmark_failed, name=contract.UNMARK)
    steps = [(atom, contexts[key]) for key, own in nodes.items()
             for atom in own.atoms
             if callable(getattr(atom, contract.UNMARK, None))]
    return atoms.Unmark(steps, built.unmark_failed, name=contract.UNMARK)


def unmark_now(built):
    """Run a restore's last stage outside the engine: a restore that
    failed under the ``keep`` policy keeps what it made, without marks.
    Returns its ``unmark_failures``."""
    for atom in iter_atoms(built.flow):
        if isinstance(atom, atoms.Unmark):
            atom.execute()
    return built.unmark_failures()


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
    for resource in graph.bottom_up():
        ctx = make_context(resource)
        contexts[resource.key] = ctx
        nodes[resource.key] = _resource_nodes(
            registry.get(resource.type), operation, ctx, resource, owners)
    every = [node for own in nodes.values() for node in own.every()]
    prepared = None
    if any(own.prepares() for own in nodes.values()):
        prepared = atoms.Barrier(name="prepared")
        every.insert(0, prepared)
    after_children = {r.type for r in graph
                      if getattr(registry.get(r.type),
                                 "protect_after_children", False)}
    links = _links(operation, graph, nodes, prepared, after_children)
    built = BuiltFlow(operation=operation, flow=whole, owners=owners,
                      contexts=contexts)
    if operation == contract.RESTORE:
        unmark = _unmark_stage(nodes, contexts, built, abort)
        links += [(own.completed(), unmark) for own in nodes.values()]
        every.append(unmark)
    if abort:
        stop = atoms.Abort(name="abort")
        links += [(stop, node) for node in every]
        every.append(stop)
    whole.add(*every, resolve_requires=False, resolve_existing=False)
    _link_all(whole, links)
    for atom in iter_atoms(whole):
        _tolerate_revert_errors(atom, built)
    return built
