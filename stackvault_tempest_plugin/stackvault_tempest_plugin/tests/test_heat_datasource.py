"""The Heat datasource, table by table, against Heat's own answers.

Two stacks are created through Heat: ``A`` with a nested template stack,
random strings, a value and a software config; ``B`` flat and tagged, with
a Heat snapshot; plus a software deployment of A's config. Each test reads
one table with ``stackvault datasource show heat TABLE -f json`` and
compares it, row by row and column by column, with what Heat's API says
(``compare``): the same rows (by id, or by owning stack and name for
resources) and the same values in every column Heat also returns.
"""

import json

from tempest import config
from tempest.lib.common.utils import data_utils
from tempest.lib import decorators

from stackvault_tempest_plugin import compare
from stackvault_tempest_plugin import heat as heat_api
from stackvault_tempest_plugin.tests import base

CONF = config.CONF

# The datasource's default [heat] nested_depth; the template nests once.
NESTED_DEPTH = 5

NESTED = {
    "heat_template_version": "2018-08-31",
    "parameters": {"length": {"type": "number", "default": 8}},
    "resources": {
        "inner_random": {"type": "OS::Heat::RandomString",
                         "properties": {"length": {"get_param": "length"}}},
        "inner_value": {"type": "OS::Heat::Value", "properties": {
            "value": {"get_attr": ["inner_random", "value"]}}},
    },
    "outputs": {"secret": {"value": {"get_attr": ["inner_random",
                                                  "value"]}}},
}

NESTING = {
    "heat_template_version": "2018-08-31",
    "description": "stackvault tempest: stack A",
    "parameters": {"greeting": {"type": "string"}},
    "resources": {
        "random": {"type": "OS::Heat::RandomString",
                   "metadata": {"owner": "tempest", "tier": [1, 2]},
                   "properties": {"length": 10}},
        "config": {"type": "OS::Heat::SoftwareConfig", "properties": {
            "group": "script", "config": "#!/bin/sh\necho stackvault",
            "inputs": [{"name": "foo", "type": "String",
                        "description": "an input"}],
            "outputs": [{"name": "result"}]}},
        "child": {"type": "nested.yaml", "properties": {"length": 12}},
    },
    "outputs": {
        "config_id": {"value": {"get_resource": "config"},
                      "description": "the software config"},
        "child_secret": {"value": {"get_attr": ["child", "secret"]}},
        "greeting": {"value": {"get_param": "greeting"}},
    },
}

FLAT = {
    "heat_template_version": "2018-08-31",
    "parameters": {"greeting": {"type": "string", "default": "hello"}},
    "resources": {"value": {"type": "OS::Heat::Value", "properties": {
        "value": {"get_param": "greeting"}}}},
    "outputs": {"echo": {"value": {"get_attr": ["value", "value"]}}},
}


def _owner_stack_id(resource):
    """The id of the stack a resource of Heat's list directly belongs to
    (its ``stack`` link ends with ``/stacks/NAME/ID``)."""
    (href,) = [link["href"] for link in resource["links"]
               if link["rel"] == "stack"]
    return href.rstrip("/").rsplit("/", 1)[1]


class HeatDatasourceTest(base.StackvaultTest):
    """``stackvault datasource show heat TABLE`` equals Heat's answers."""

    @classmethod
    def skip_checks(cls):
        super().skip_checks()
        if not CONF.stackvault.heat_datasource:
            raise cls.skipException(
                "Heat datasource tests are off ([stackvault] "
                "heat_datasource = False)")

    @classmethod
    def resource_setup(cls):
        super().resource_setup()
        cls.heat = heat_api.Heat(cls.conn, cls.timeout,
                                 cls.addClassResourceCleanup)
        prefix = data_utils.rand_name("stackvault-ds")
        cls.stacks = {}
        a_name, b_name = f"{prefix}-a", f"{prefix}-b"
        cls.stacks[a_name] = cls.heat.create_stack(
            a_name, NESTING, files={"nested.yaml": json.dumps(NESTED)},
            parameters={"greeting": "hej"})
        cls.stacks[b_name] = cls.heat.create_stack(
            b_name, FLAT, parameters={"greeting": "bonjour"},
            tags=["tempest", "stackvault"])
        for name, stack_id in cls.stacks.items():     # built side by side
            cls.heat.wait_created(name, stack_id)
        cls.snapshot_id = cls.heat.snapshot(b_name, cls.stacks[b_name],
                                            "tempest-snapshot")
        cls.config_id = cls.heat.resource(
            f"/stacks/{a_name}/{cls.stacks[a_name]}",
            "config")["physical_resource_id"]
        server_id = data_utils.rand_uuid()    # no server: Heat never looks
        cls.deployment_id = cls.heat.deployment(
            cls.config_id, server_id, inputs={"foo": "bar"},
            outputs={"result": "ok", "deploy_status_code": 0})

    def show(self, table):
        return self.stackvault.json("datasource", "show", "heat", table)

    def assert_rows_match(self, table, rows, answers, key):
        """``rows`` (the datasource's, keyed by ``key``) are exactly the
        ``answers`` (Heat's, a dict by the same key), value by value."""
        got = compare.keyed(rows, key)
        self.assertEqual(sorted(answers), sorted(got),
                         f"{table}: rows differ from Heat's")
        for k, answer in answers.items():
            shared = set(got[k]) & set(answer)
            self.assertGreaterEqual(len(shared), 3,
                                    f"{table}: hardly a column to compare")
            self.assertEqual({}, compare.differences(got[k], answer),
                             f"{table} {k}: datasource vs Heat "
                             "(datasource, Heat)")

    def assert_row_is(self, table, row_id, answer):
        """The row of ``table`` with id ``row_id`` is Heat's ``answer``."""
        rows = [r for r in self.show(table) if r["id"] == row_id]
        self.assert_rows_match(table, rows, {row_id: answer},
                               key=lambda r: r["id"])

    def ours(self, rows, column="stack_id"):
        mine = set(self.stacks.values())
        return [r for r in rows if r[column] in mine]

    @decorators.idempotent_id("a3b4c1d2-5e6f-4a70-8b91-c2d3e4f5a601")
    def test_stacks(self):
        answers = {sid: self.heat.stack(name, sid)
                   for name, sid in self.stacks.items()}
        self.assert_rows_match("stacks", self.ours(self.show("stacks"),
                                                   "id"),
                               answers, key=lambda r: r["id"])
        statuses = {a["stack_status"] for a in answers.values()}
        self.assertEqual({"CREATE_COMPLETE", "SNAPSHOT_COMPLETE"}, statuses)

    @decorators.idempotent_id("a3b4c1d2-5e6f-4a70-8b91-c2d3e4f5a602")
    def test_stack_parameters_and_outputs(self):
        parameters = self.ours(self.show("stack_parameters"))
        outputs = self.ours(self.show("stack_outputs"))
        for name, sid in self.stacks.items():
            stack = self.heat.stack(name, sid)
            got = {r["name"]: r["value"] for r in parameters
                   if r["stack_id"] == sid}
            self.assertEqual(stack["parameters"], got, name)
            self.assert_rows_match(
                "stack_outputs", [r for r in outputs if r["stack_id"] == sid],
                {o["output_key"]: o for o in stack["outputs"]},
                key=lambda r: r["output_key"])

    @decorators.idempotent_id("a3b4c1d2-5e6f-4a70-8b91-c2d3e4f5a603")
    def test_resources(self):
        rows = self.ours(self.show("resources"))
        answers = {}
        for name, sid in self.stacks.items():
            for resource in self.heat.resources(name, sid, NESTED_DEPTH):
                answers[(sid, _owner_stack_id(resource),
                         resource["resource_name"])] = resource
        self.assert_rows_match(
            "resources", rows, answers,
            key=lambda r: (r["stack_id"], r["owner_stack_id"],
                           r["resource_name"]))
        # the nested stack's resources are there, below their parent
        nested = {k[2] for k in answers if k[0] != k[1]}
        self.assertEqual({"inner_random", "inner_value"}, nested)

    @decorators.idempotent_id("a3b4c1d2-5e6f-4a70-8b91-c2d3e4f5a604")
    def test_resource_attributes(self):
        resources = self.ours(self.show("resources"))
        attributes = self.show("resource_attributes")
        checked = 0
        for resource in resources:
            if resource["resource_type"] != "OS::Heat::RandomString":
                continue
            stack_name = resource["owner_stack_name"]
            owner = f"/stacks/{stack_name}/{resource['owner_stack_id']}"
            answer = self.heat.resource(owner, resource["resource_name"])
            got = {r["name"]: r["value"] for r in attributes
                   if r["resource_id"] == resource["id"]}
            self.assertEqual(answer["attributes"]["value"], got["value"])
            checked += 1
        self.assertEqual(2, checked)

    @decorators.idempotent_id("a3b4c1d2-5e6f-4a70-8b91-c2d3e4f5a605")
    def test_events(self):
        rows = self.ours(self.show("events"))
        answers = {}
        for name, sid in self.stacks.items():
            for event in self.heat.events(name, sid, NESTED_DEPTH):
                answers[event["id"]] = event
        self.assert_rows_match("events", rows, answers,
                               key=lambda r: r["id"])

    @decorators.idempotent_id("a3b4c1d2-5e6f-4a70-8b91-c2d3e4f5a606")
    def test_snapshots(self):
        rows = self.ours(self.show("snapshots"))
        answers = {}
        for name, sid in self.stacks.items():
            for snapshot in self.heat.snapshots(name, sid):
                answers[snapshot["id"]] = snapshot
        self.assertEqual([self.snapshot_id], list(answers))
        self.assert_rows_match("snapshots", rows, answers,
                               key=lambda r: r["id"])

    @decorators.idempotent_id("a3b4c1d2-5e6f-4a70-8b91-c2d3e4f5a607")
    def test_software_configs(self):
        answer = self.heat.software_config(self.config_id)
        self.assert_row_is("software_configs", self.config_id, answer)
        for table, field in (("software_config_inputs", "inputs"),
                             ("software_config_outputs", "outputs")):
            mine = [r for r in self.show(table)
                    if r["config_id"] == self.config_id]
            self.assert_rows_match(
                table, mine, {i["name"]: i for i in answer[field]},
                key=lambda r: r["name"])

    @decorators.idempotent_id("a3b4c1d2-5e6f-4a70-8b91-c2d3e4f5a608")
    def test_software_deployments(self):
        answer = self.heat.software_deployment(self.deployment_id)
        self.assert_row_is("software_deployments", self.deployment_id,
                           answer)
        self.assertEqual("COMPLETE", answer["status"])
        for table, field in (("deployment_input_values", "input_values"),
                             ("deployment_output_values", "output_values")):
            got = {r["name"]: r["value"] for r in self.show(table)
                   if r["deployment_id"] == self.deployment_id}
            self.assertEqual(sorted(answer[field]), sorted(got), table)
            for name, value in answer[field].items():
                self.assertTrue(compare.cell_matches(got[name], value),
                                f"{table} {name}: {got[name]!r} vs "
                                f"{value!r}")
