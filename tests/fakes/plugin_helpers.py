"""Building blocks for unit tests of plugin tasks (mocked openstacksdk)."""

import types
from unittest import mock

from openstack import exceptions as sdk_exceptions

from protection.plugin.context import ResourceContext
from protection.model.progress import Progress
from protection.model.restored_ids import RestoredIds
from protection.plugin.wait import Timeouts

FAST = Timeouts(status_wait=2.0, per_gib=0.0, poll_initial=0.001,
                poll_max=0.005)


def make_ctx(resource, conn=None, operation="protect", parameters=None,
             metadata=None, bank=None, timeouts=FAST, events=None):
    progress = Progress([events.append] if events is not None else [])
    return ResourceContext(
        operation=operation, resource=resource,
        conn=conn if conn is not None else mock.Mock(),
        bank=bank if bank is not None else mock.Mock(),
        parameters=parameters or {}, restored=RestoredIds(),
        progress=progress.for_resource(operation, resource),
        timeouts=timeouts, checkpoint_id="cp-1",
        metadata=metadata or {})


def obj(**attrs):
    """An openstacksdk-like resource object with exactly these attributes
    (a Mock would invent ``fault`` and the like)."""
    return types.SimpleNamespace(**attrs)


def statuses(*values, **attrs):
    """A fetch side_effect that returns objects with these statuses in turn
    (the last one repeats)."""
    seq = list(values)

    def fetch(*args, **kwargs):
        status = seq.pop(0) if len(seq) > 1 else seq[0]
        return obj(status=status, **attrs)
    return fetch


def gone_once_deleted(get, delete, answer):
    """Make the mocks ``get`` and ``delete`` act like a service: ``get``
    answers ``answer`` (an object, or a callable such as ``statuses(...)``)
    until ``delete`` is called, then NotFound. Returns the list of the ids
    ``delete`` was called with."""
    deleted = []

    def fetch(*args, **kwargs):
        if deleted:
            raise sdk_exceptions.NotFoundException("not found")
        return answer() if callable(answer) else answer
    get.side_effect = fetch
    delete.side_effect = deleted.append
    return deleted
