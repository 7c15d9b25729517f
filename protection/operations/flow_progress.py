"""Where an operation is, resource by resource, read from its persisted
flow (so it is seen from any process, while the operation runs in
another: the API process, a conductor, a CLI).

Every atom of an operation's flow is named ``TYPE#ID/<step>``
(:func:`flows.contract.resource_label`), with a ``started`` and a
``finished`` marker per resource; TaskFlow saves each atom's state as it
changes. A resource is:

``pending``    none of its atoms ran yet
``running``    started, not finished
``done``       its ``finished`` marker succeeded
``reverting``  an atom of it is being reverted (``reverted`` once all
               that ran are)
``failed``     an atom of it failed (or failed to revert)

with ``steps`` (its atoms) and ``steps_done`` (those that succeeded).
"""

from taskflow import states

_FAILED = (states.FAILURE, states.REVERT_FAILURE)
_REVERTS = (states.REVERTING, states.REVERTED)


def _state(atoms):
    """The resource's state from ``{step: atom state}``."""
    found = set(atoms.values())
    if found & set(_FAILED):
        return "failed"
    if states.REVERTING in found:
        return "reverting"
    if states.REVERTED in found:
        return "reverted"
    if atoms.get("finished") == states.SUCCESS:
        return "done"
    if atoms.get("started") == states.SUCCESS or states.RUNNING in found:
        return "running"
    return "pending"


def per_resource(flows, operation_id):
    """``{"TYPE#ID": {"state", "steps", "steps_done"}}``; ``{}`` when the
    operation keeps no flow (an in-memory run, or one pruned). Reads only
    the atoms' names and states (``flows.atom_states``), not the whole
    flow detail."""
    atoms = {}
    for name, state in flows.atom_states(operation_id).items():
        label, sep, step = name.rpartition("/")
        if sep and "#" in label:
            atoms.setdefault(label, {})[step] = state
    return {label: {"state": _state(steps), "steps": len(steps),
                    "steps_done": sum(1 for s in steps.values()
                                      if s == states.SUCCESS)}
            for label, steps in sorted(atoms.items())}
