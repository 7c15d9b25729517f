"""A run that breaks on something other than its operation's own failure
(the runner, the bank, the cloud's login raising) releases its operation
at once: a long-lived process (a conductor, the API's workers) would
otherwise hold it by its live pid for ever."""

import mock
import pytest

from protection.operations import store as ops


def test_a_new_run_that_breaks_leaves_its_operation_interrupted(
        service, cloud, checkpoint_id):
    with mock.patch.object(service.runner, "run",
                           side_effect=RuntimeError("bank went away")):
        with pytest.raises(RuntimeError):
            service.restore(checkpoint_id, cloud)
    [op] = [o for o in service.list_operations() if o.kind == "restore"]
    assert op.owner_pid is None              # this process is alive
    assert op.shown_status == ops.INTERRUPTED


def test_a_resume_that_breaks_releases_what_it_took_over(
        service, cloud, checkpoint_id):
    with mock.patch.object(service.runner, "run",
                           side_effect=RuntimeError("bank went away")):
        with pytest.raises(RuntimeError):
            service.restore(checkpoint_id, cloud)
        [op] = [o for o in service.list_operations()
                if o.kind == "restore"]
        with pytest.raises(RuntimeError):
            service.resume(op.id, lambda _name: cloud)
    after = service.operation(op.id)
    assert after.shown_status == ops.INTERRUPTED
    assert after.generation == op.generation + 2   # taken, released

