"""Rebuilding a flow trusts nothing a flow detail names (issue #23 item 1).

A flow detail is a database row any job poster can write; rebuild must
never import or call what it names, and must call stackvault's own
factory only with arguments of the recorded shape.
"""

import sys

import pytest
from taskflow.persistence import models

from protection.operations import flow_factory

ARGS = {"operation_id": "op-1", "kind": "restore", "checkpoint_id": "cp-1",
        "cloud": "devcloud", "parameters": {"a": {"b": 1}},
        "policy": "rollback"}
NEW = "protection.operations.flow_factory.operation_flow"
OLD = "protection.flow_factory.operation_flow"


def _detail(name=NEW, kwargs=None, args=()):
    detail = models.FlowDetail("op-1", "uuid-1")
    detail.meta = {"factory": {"name": name, "args": list(args),
                               "kwargs": dict(ARGS) if kwargs is None
                               else kwargs}}
    return detail


def _rebuilt(detail):
    seen = []

    class Built:
        flow = "the flow"

    def build(arguments):
        seen.append(arguments)
        return Built()
    built = flow_factory.rebuild(detail, build, "op-1")
    return built, seen


@pytest.mark.parametrize("name", [NEW, OLD])
def test_both_of_stackvaults_factory_paths_rebuild(name):
    built, seen = _rebuilt(_detail(name))
    assert built.flow == "the flow"
    assert seen == [ARGS]


def test_a_factory_naming_os_system_is_refused_and_nothing_runs(tmp_path):
    planted = tmp_path / "pwned"
    detail = _detail("os.system", kwargs={}, args=[f"touch {planted}"])
    with pytest.raises(flow_factory.RefusedFlowRecord,
                       match="operation op-1.*'os.system' is not"):
        _rebuilt(detail)
    assert not planted.exists()


def test_a_refused_factory_is_not_even_imported():
    name = "tests_never_imported_module.factory"
    with pytest.raises(flow_factory.RefusedFlowRecord):
        _rebuilt(_detail(name))
    assert "tests_never_imported_module" not in sys.modules


@pytest.mark.parametrize("kwargs, why", [
    (dict(ARGS, kind="rm -rf"), "kind"),
    (dict(ARGS, policy="explode"), "policy"),
    (dict(ARGS, parameters="x"), "parameters"),
    (dict(ARGS, extra=1), "Additional properties"),
    ({k: v for k, v in ARGS.items() if k != "operation_id"},
     "operation_id"),
    (dict(ARGS, operation_id=7), "operation_id"),
    (dict(ARGS, cloud={"auth": {}}), "cloud"),
    (["op-1"], "arguments"),
])
def test_arguments_of_another_shape_are_refused(kwargs, why):
    with pytest.raises(flow_factory.RefusedFlowRecord, match=why):
        _rebuilt(_detail(kwargs=kwargs))


@pytest.mark.parametrize("meta", [
    None, {}, {"factory": "os.system"},
    {"factory": {"name": NEW, "args": ["op-1"], "kwargs": ARGS}},
    {"factory": {"name": NEW, "kwargs": ARGS, "module": "os"}},
])
def test_malformed_records_are_refused(meta):
    detail = models.FlowDetail("op-1", "uuid-1")
    detail.meta = meta
    with pytest.raises(flow_factory.RefusedFlowRecord, match="op-1"):
        _rebuilt(detail)


def test_delete_and_verify_record_no_policy():
    kwargs = dict(ARGS, kind="delete", policy=None, parameters={})
    _built, seen = _rebuilt(_detail(kwargs=kwargs))
    assert seen == [kwargs]


def test_a_trust_id_is_recorded_and_checked():
    kwargs = dict(ARGS, cloud=None, trust_id="0a1b2c3d4e5f")
    _built, seen = _rebuilt(_detail(kwargs=kwargs))
    assert seen == [kwargs]
    for bad in ("'; os.system", {"id": "x"}, "a" * 65):
        with pytest.raises(flow_factory.RefusedFlowRecord,
                           match="trust_id"):
            _rebuilt(_detail(kwargs=dict(ARGS, trust_id=bad)))
