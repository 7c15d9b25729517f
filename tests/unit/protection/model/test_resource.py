"""Resource identity and (de)serialisation."""

import json

import pytest

from protection.model.resource import Resource, key_str, parse_key_str


def test_identity_is_type_and_id_not_id_alone():
    vol = Resource("OS::Cinder::Volume", "abc", "data")
    img = Resource("OS::Glance::Image", "abc", "data")
    assert vol != img
    assert len({vol, img}) == 2
    assert vol.key == ("OS::Cinder::Volume", "abc")


def test_name_and_extra_do_not_change_identity():
    a = Resource("OS::Nova::Server", "s1", "web", {"x": 1})
    b = Resource("OS::Nova::Server", "s1", "renamed", {"x": 2})
    assert a == b
    assert hash(a) == hash(b)
    assert {a: "first"}[b] == "first"


def test_not_equal_to_other_types():
    res = Resource("OS::Nova::Server", "s1")
    assert res != ("OS::Nova::Server", "s1")
    assert res != "s1"


def test_str_shows_name_only_when_it_adds_something():
    assert str(Resource("OS::Nova::Server", "s1", "web")) == \
        "OS::Nova::Server s1 (web)"
    assert str(Resource("OS::Nova::Server", "s1", "s1")) == \
        "OS::Nova::Server s1"
    assert str(Resource("OS::Nova::Server", "s1")) == "OS::Nova::Server s1"


def test_dict_round_trip_through_json_keeps_everything():
    res = Resource("OS::Cinder::Volume", "v1", "boot",
                   {"boot": True, "size": 10, "nested": {"a": [1, 2]}})
    data = json.loads(json.dumps(res.to_dict()))
    back = Resource.from_dict(data)
    assert back == res
    assert back.name == "boot"
    assert back.extra == {"boot": True, "size": 10, "nested": {"a": [1, 2]}}
    assert back.to_dict() == res.to_dict()


def test_from_dict_defaults_for_optional_fields():
    back = Resource.from_dict({"type": "OS::Glance::Image", "id": "i"})
    assert back.name == ""
    assert back.extra == {}


def test_default_extra_is_not_shared_between_instances():
    a = Resource("T::A", "1")
    b = Resource("T::A", "2")
    assert a.extra is not b.extra


def test_key_str_round_trip_with_heat_types():
    key = ("OS::Nova::Server", "0d6f-42")
    assert key_str(key) == "OS::Nova::Server#0d6f-42"
    assert parse_key_str(key_str(key)) == key


@pytest.mark.parametrize("text", ["OS::Nova::Server", "#abc",
                                  "OS::Nova::Server#", ""])
def test_parse_key_str_rejects_malformed(text):
    with pytest.raises(ValueError, match="TYPE#ID"):
        parse_key_str(text)
