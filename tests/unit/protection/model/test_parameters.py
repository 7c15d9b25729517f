"""Protect/restore parameters: parsing, coercion, merging, validation."""

import pytest

from protection import exceptions
from protection.model import parameters
from protection.model.graph import ResourceGraph
from protection.model.resource import Resource

VOL_A = Resource("OS::Cinder::Volume", "vol-a", "a")
VOL_B = Resource("OS::Cinder::Volume", "vol-b", "b")
SERVER = Resource("OS::Nova::Server", "srv", "web")

SCHEMA = {
    "type": "object",
    "properties": {
        "backup_mode": {"type": "string",
                        "enum": ["full", "incremental"]},
        "copies": {"type": "integer", "minimum": 1},
        "name": {"type": "string"},
        "force": {"type": "boolean"},
        "ratio": {"type": "number"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "anything": {},
    },
    "additionalProperties": False,
}


# -- parse_assignment ---------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("OS::Cinder::Volume:backup_mode=incremental",
     ("OS::Cinder::Volume", "backup_mode", "incremental")),
    ("OS::Cinder::Volume#vol-a:copies=3",
     ("OS::Cinder::Volume#vol-a", "copies", "3")),
    ("OS::Nova::Server#5f2e-11:name=a=b",
     ("OS::Nova::Server#5f2e-11", "name", "a=b")),
    ("OS::Glance::Image:url=http://host:80/x",
     ("OS::Glance::Image", "url", "http://host:80/x")),
    ("OS::Nova::Server:name=", ("OS::Nova::Server", "name", "")),
])
def test_parse_assignment(text, expected):
    assert parameters.parse_assignment(text) == expected


@pytest.mark.parametrize("text", [
    "backup_mode=full",                     # no target
    "OS::Cinder::Volume:backup_mode",       # no value
    "OS::Cinder::Volume=full",              # no key
    "OS::Cinder::Volume::backup_mode=full",  # '::' instead of ':'
    "OS::Cinder::Volume:=full",             # empty key
    ":key=value",                           # empty target
    "",
])
def test_parse_assignment_rejects_bad_syntax(text):
    with pytest.raises(exceptions.InvalidParameter) as err:
        parameters.parse_assignment(text)
    assert "TYPE[#ID]:KEY=VALUE" in str(err.value)
    assert isinstance(err.value, exceptions.StackvaultError)


def test_from_assignments_groups_by_target():
    got = parameters.from_assignments([
        "OS::Cinder::Volume:backup_mode=full",
        "OS::Cinder::Volume#vol-a:backup_mode=incremental",
        "OS::Cinder::Volume:copies=2",
        "OS::Cinder::Volume:copies=3",      # the last one wins
    ])
    assert got == {
        "OS::Cinder::Volume": {"backup_mode": "full", "copies": "3"},
        "OS::Cinder::Volume#vol-a": {"backup_mode": "incremental"},
    }
    assert parameters.from_assignments(None) == {}
    assert parameters.from_assignments([]) == {}


# -- coercion -----------------------------------------------------------------
def test_coercion_follows_the_schema_type():
    got = parameters.coerce(
        {"copies": "3", "name": "123", "force": "true", "ratio": "0.5",
         "tags": '["a", "b"]', "backup_mode": "full", "anything": "7"},
        SCHEMA)
    assert got == {"copies": 3, "name": "123", "force": True, "ratio": 0.5,
                   "tags": ["a", "b"], "backup_mode": "full",
                   "anything": 7}
    assert isinstance(got["name"], str)


def test_coercion_leaves_unparseable_text_for_validation_to_reject():
    assert parameters.coerce({"copies": "three"}, SCHEMA) == \
        {"copies": "three"}


def test_coercion_keeps_non_strings_and_handles_no_schema():
    assert parameters.coerce({"copies": 3}, SCHEMA) == {"copies": 3}
    assert parameters.coerce({"x": "1"}, None) == {"x": 1}


def test_string_in_a_type_list_still_coerces_the_other_types():
    schema = {"properties": {"size": {"type": ["integer", "null"]},
                             "label": {"type": ["string"]}}}
    assert parameters.coerce({"size": "10", "label": "10"}, schema) == \
        {"size": 10, "label": "10"}


# -- merging ------------------------------------------------------------------
def test_for_resource_merges_type_values_with_id_override():
    given = {
        "OS::Cinder::Volume": {"backup_mode": "full", "copies": "2"},
        "OS::Cinder::Volume#vol-a": {"backup_mode": "incremental"},
        "OS::Nova::Server": {"name": "x"},
    }
    assert parameters.for_resource(given, VOL_A) == \
        {"backup_mode": "incremental", "copies": "2"}
    assert parameters.for_resource(given, VOL_B) == \
        {"backup_mode": "full", "copies": "2"}
    assert parameters.for_resource(given, SERVER) == {"name": "x"}
    assert parameters.for_resource({}, SERVER) == {}
    # Merging does not change what was given.
    assert given["OS::Cinder::Volume"]["backup_mode"] == "full"


# -- targets ------------------------------------------------------------------
def graph():
    children = {SERVER.key: [VOL_A, VOL_B]}
    return ResourceGraph.build([SERVER], lambda r: children.get(r.key, []))


def test_check_targets_accepts_types_and_resources_in_the_graph():
    parameters.check_targets({"OS::Cinder::Volume": {},
                              "OS::Cinder::Volume#vol-b": {},
                              "OS::Nova::Server#srv": {}}, graph())
    parameters.check_targets({}, graph())


def test_check_targets_unknown_type():
    with pytest.raises(exceptions.InvalidParameter) as err:
        parameters.check_targets({"OS::Glance::Image": {"x": "1"}}, graph())
    message = str(err.value)
    assert "OS::Glance::Image" in message
    assert "OS::Cinder::Volume, OS::Nova::Server" in message


def test_check_targets_unknown_resource_id():
    with pytest.raises(exceptions.InvalidParameter) as err:
        parameters.check_targets({"OS::Cinder::Volume#nope": {}}, graph())
    assert "OS::Cinder::Volume#nope" in str(err.value)
    assert "no such resource" in str(err.value)


def test_check_targets_id_under_the_wrong_type():
    with pytest.raises(exceptions.InvalidParameter):
        parameters.check_targets({"OS::Nova::Server#vol-a": {}}, graph())


# -- validation ---------------------------------------------------------------
def test_validate_returns_coerced_values():
    assert parameters.validate(SCHEMA, {"copies": "3", "name": "007"},
                               VOL_A) == {"copies": 3, "name": "007"}


def _invalid(values, schema=SCHEMA, resource=VOL_A):
    with pytest.raises(exceptions.InvalidParameter) as err:
        parameters.validate(schema, values, resource)
    return err.value


def test_validate_enum_names_resource_key_and_reason():
    err = _invalid({"backup_mode": "differential"})
    assert err.key == "backup_mode"
    assert err.target == str(VOL_A)
    message = str(err)
    assert "OS::Cinder::Volume vol-a" in message
    assert "'backup_mode'" in message
    assert "differential" in message and "full" in message


def test_validate_type_error():
    err = _invalid({"copies": "three"})
    assert err.key == "copies"
    assert "integer" in err.reason


def test_validate_minimum():
    err = _invalid({"copies": "0"})
    assert err.key == "copies"
    assert "minimum" in err.reason or "less than" in err.reason


def test_validate_string_typed_value_is_not_turned_into_a_number():
    err = _invalid({"name": 123})
    assert err.key == "name"


def test_validate_unknown_key_via_additional_properties():
    err = _invalid({"colour": "blue", "copies": "2"})
    assert err.key == "colour"
    assert "unknown parameter" in err.reason
    assert "backup_mode" in err.reason and "copies" in err.reason
    assert "OS::Cinder::Volume vol-a" in str(err)


def test_validate_required_names_the_missing_key():
    schema = dict(SCHEMA, required=["copies"])
    err = _invalid({"name": "x"}, schema)
    assert err.key == "copies"
    assert "required" in err.reason
    assert "'copies'" in str(err)
    assert "OS::Cinder::Volume vol-a" in str(err)


def test_validate_nested_error_names_the_top_level_key():
    err = _invalid({"tags": ["ok", 5]})
    assert err.key == "tags"


def test_validate_without_schema_rejects_any_value():
    assert parameters.validate({}, {}, SERVER) == {}
    err = _invalid({"zeta": "1", "alpha": "2"}, schema={}, resource=SERVER)
    assert err.key == "alpha"
    assert "takes no parameters" in err.reason
    assert "OS::Nova::Server srv" in str(err)


def test_validate_reports_errors_deterministically():
    values = {"copies": "zero", "backup_mode": "nope"}
    first = str(_invalid(values))
    for _ in range(5):
        assert str(_invalid(dict(reversed(list(values.items()))))) == first


# -- plugin schemas -----------------------------------------------------------
@pytest.mark.parametrize("schema", [
    {"type": "objekt"},
    {"type": "object", "properties": {"x": {"type": 5}}},
    {"type": "object", "required": "copies"},
    {"minimum": "zero"},
])
def test_check_schema_rejects_an_invalid_schema(schema):
    with pytest.raises(exceptions.PluginError) as err:
        parameters.check_schema(schema, "OS::Cinder::Volume (restore)")
    assert "OS::Cinder::Volume (restore)" in str(err.value)
    assert "invalid JSON Schema" in str(err.value)


@pytest.mark.parametrize("schema", [SCHEMA, {}, None,
                                    {"type": "object"}])
def test_check_schema_accepts_valid_schemas(schema):
    parameters.check_schema(schema, "owner")
