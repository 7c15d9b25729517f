"""Each resource's state, from the states of its atoms."""

from taskflow import states

from protection.operations import flow_progress


class Flows:
    """flows.persistence.FlowStore's atom_states, of one operation."""

    def __init__(self, atoms):
        self.atoms = dict(atoms)

    def atom_states(self, operation_id):
        return self.atoms if operation_id == "op" else {}

    def load(self, operation_id):
        raise AssertionError("progress reads the atoms' states only, not "
                             "the whole flow detail")


def test_states_per_resource():
    flows = Flows([
        ("prepared", states.SUCCESS),
        ("T#done/started", states.SUCCESS), ("T#done/Save", states.SUCCESS),
        ("T#done/finished", states.SUCCESS),
        ("T#run/started", states.SUCCESS), ("T#run/Save", states.RUNNING),
        ("T#wait/started", states.PENDING),
        ("T#bad/started", states.SUCCESS), ("T#bad/Save", states.FAILURE),
        ("T#back/started", states.REVERTED), ("T#back/Save",
                                              states.REVERTING),
        ("T#gone/started", states.REVERTED),
    ])
    found = flow_progress.per_resource(flows, "op")
    assert {k: v["state"] for k, v in found.items()} == {
        "T#done": "done", "T#run": "running", "T#wait": "pending",
        "T#bad": "failed", "T#back": "reverting", "T#gone": "reverted"}
    assert found["T#run"] == {"state": "running", "steps": 2,
                              "steps_done": 1}


def test_an_operation_without_a_flow_has_no_progress():
    assert flow_progress.per_resource(Flows([]), "other") == {}
