"""The one table the service dispatches operation kinds from
(protection.service.kinds)."""

from flows import contract
from protection.service import running
from protection.service.kinds import KINDS


def test_every_operation_kind_has_one_row_under_its_own_name():
    assert sorted(KINDS) == sorted(contract.OPERATIONS)
    for name, kind in KINDS.items():
        assert isinstance(kind, running.OperationKind)
        assert kind.name == name


def test_only_a_protect_leaves_something_right_when_given_up():
    """A conductor's give-up fails a protect's checkpoint; the other kinds
    hold nothing beyond their row."""
    leaving = {name for name, kind in KINDS.items()
               if kind.give_up is not running.OperationKind.give_up}
    assert leaving == {contract.PROTECT}
