"""The declarative translator: each translation type, validation of the
declarations, and data of the wrong shape."""

import json

import pytest

from protection import exceptions
from protection.datasources import translator as tr
from protection.datasources.translator import Translator


def value():
    return {"translation-type": tr.VALUE}


def hdict(table=None, fields=("a",), **extra):
    spec = {"translation-type": tr.HDICT,
            "field-translators": [f if isinstance(f, dict)
                                  else {"fieldname": f} for f in fields]}
    if table:
        spec["table-name"] = table
    spec.update(extra)
    return spec


def vdict(table, **extra):
    spec = {"translation-type": tr.VDICT, "table-name": table,
            "key-col": "key", "val-col": "value"}
    spec.update(extra)
    return spec


def listing(table, **extra):
    spec = {"translation-type": tr.LIST, "table-name": table,
            "val-col": "value"}
    spec.update(extra)
    return spec


# -- value ---------------------------------------------------------------

@pytest.mark.parametrize("raw,cell", [
    (None, None), (True, True), (3, 3), (2.5, 2.5), ("text", "text"),
    (b"bytes", "bytes"),
    ({"b": 1, "a": [1, 2]}, '{"a": [1, 2], "b": 1}'),
    ([1, {"x": None}], '[1, {"x": null}]'),
    ((1, 2), "[1, 2]"),
    ({"b", "a"}, '["a", "b"]'),
])
def test_value_keeps_scalars_and_turns_containers_into_json(raw, cell):
    rows = Translator(hdict("t", ["v"])).translate({"v": raw})["t"]
    assert rows == [{"v": cell}]


def test_value_of_an_unknown_object_is_its_text():
    class Odd:
        def __str__(self):
            return "odd!"
    assert tr.to_scalar(Odd()) == "odd!"
    # a dict holding an object that JSON cannot encode: still no crash
    assert json.loads(tr.to_scalar({"o": Odd()})) == {"o": "odd!"}


def test_a_root_value_is_refused():
    with pytest.raises(tr.TranslatorError, match="must make a table"):
        Translator(value())


# -- hdict ---------------------------------------------------------------

def test_hdict_makes_a_row_per_dict_with_declared_columns():
    t = Translator(hdict("servers", ["id", {"fieldname": "name",
                                            "col": "server_name"}],
                         **{"id-col": "id"}))
    out = t.translate([{"id": "s1", "name": "web", "extra": 1},
                       {"id": "s2"}])
    assert t.tables["servers"].columns == ("id", "server_name")
    assert out["servers"] == [{"id": "s1", "server_name": "web"},
                              {"id": "s2", "server_name": None}]


def test_hdict_root_takes_a_single_dict_too():
    out = Translator(hdict("t", ["a"])).translate({"a": 1})
    assert out["t"] == [{"a": 1}]


def test_hdict_dot_selector_walks_nested_dicts():
    t = Translator(hdict("t", [{"fieldname": "flavor.name", "col": "flavor"},
                               {"fieldname": "flavor.extra.x", "col": "x"},
                               {"fieldname": "a.b", "col": "ab"}],
                         **{"selector-type": "dot"}))
    out = t.translate({"flavor": {"name": "m1", "extra": {"x": [1]}},
                       "a": "not a dict"})
    assert out["t"] == [{"flavor": "m1", "x": "[1]", "ab": None}]


def test_hdict_attr_selector_reads_attributes():
    class Obj:
        id = "o1"
        size = 3
    t = Translator(hdict("t", ["id", "size", "missing"],
                         **{"selector-type": "attr"}))
    assert t.translate(Obj())["t"] == [{"id": "o1", "size": 3,
                                        "missing": None}]


def test_generated_id_is_stable_and_follows_content():
    t = Translator(hdict("t", ["a", "b"], **{"id-col": "id"}))
    first = t.translate({"a": 1, "b": 2})["t"][0]["id"]
    again = t.translate({"b": 2, "a": 1})["t"][0]["id"]
    other = t.translate({"a": 1, "b": 3})["t"][0]["id"]
    assert first == again != other
    assert t.tables["t"].columns == ("id", "a", "b")
    assert "hash" in t.tables["t"].column_docs["id"]


def test_id_from_hashes_only_the_named_columns():
    t = Translator(hdict("t", ["name", "status"],
                         **{"id-col": "id", "id-from": ["name"]}))
    up = t.translate({"name": "x", "status": "UP"})["t"][0]["id"]
    down = t.translate({"name": "x", "status": "DOWN"})["t"][0]["id"]
    assert up == down


def test_a_natural_id_wins_and_a_missing_one_is_generated():
    t = Translator(hdict("t", ["id", "a"], **{"id-col": "id"}))
    rows = t.translate([{"id": "real", "a": 1}, {"a": 1}])["t"]
    assert rows[0]["id"] == "real"
    assert rows[1]["id"] and rows[1]["id"] != "real"


def test_child_tables_link_to_the_parent_row():
    spec = hdict("stacks", [
        "id",
        {"fieldname": "parameters", "translator": vdict(
            "params", **{"parent-key": "stack_id"})},
        {"fieldname": "tags", "translator": listing(
            "tags", **{"parent-key": "stack_id"})},
        {"fieldname": "owner", "translator": hdict(
            "owners", ["name"], **{"parent-key": "stack_id"})},
    ], **{"id-col": "id"})
    t = Translator(spec)
    out = t.translate([{"id": "s1", "parameters": {"p": "1"},
                        "tags": ["x", "y"], "owner": {"name": "me"}},
                       {"id": "s2", "parameters": None, "tags": None}])
    assert list(t.tables) == ["stacks", "params", "tags", "owners"]
    assert out["stacks"] == [{"id": "s1"}, {"id": "s2"}]
    assert out["params"] == [{"stack_id": "s1", "key": "p", "value": "1"}]
    assert out["tags"] == [{"stack_id": "s1", "value": "x"},
                           {"stack_id": "s1", "value": "y"}]
    assert out["owners"] == [{"stack_id": "s1", "name": "me"}]
    assert t.tables["params"].column_docs["stack_id"] == \
        "id of the parent row in stacks"


def test_child_of_a_row_without_natural_id_uses_the_generated_one():
    spec = hdict("res", ["name", {"fieldname": "links", "translator": listing(
        "res_links", **{"parent-key": "res_id"})}], **{"id-col": "id"})
    out = Translator(spec).translate({"name": "r", "links": ["l1"]})
    assert out["res_links"] == [{"res_id": out["res"][0]["id"],
                                 "value": "l1"}]


def test_root_parent_key_comes_from_the_caller():
    t = Translator(hdict("snaps", ["id"], **{"parent-key": "stack_id"}))
    assert t.translate([{"id": "x"}], parent_id="s1")["snaps"] == [
        {"stack_id": "s1", "id": "x"}]
    with pytest.raises(tr.TranslatorError, match="needs parent_id"):
        t.translate([{"id": "x"}])


def test_none_gives_no_rows():
    t = Translator(hdict("t", ["a"]))
    assert t.translate(None) == {"t": []}


# -- vdict ---------------------------------------------------------------

def test_vdict_makes_a_row_per_key():
    out = Translator(vdict("meta")).translate({"a": 1, "b": {"c": 2}})
    assert out["meta"] == [{"key": "a", "value": 1},
                           {"key": "b", "value": '{"c": 2}'}]


def test_vdict_of_hdicts():
    spec = {"translation-type": tr.VDICT, "table-name": "limits",
            "key-col": "resource",
            "translator": hdict(fields=["max", "used"])}
    t = Translator(spec)
    out = t.translate({"cores": {"max": 4, "used": 1}, "ram": {"max": 8}})
    assert t.tables["limits"].columns == ("resource", "max", "used")
    assert out["limits"] == [{"resource": "cores", "max": 4, "used": 1},
                             {"resource": "ram", "max": 8, "used": None}]


# -- list ----------------------------------------------------------------

def test_list_makes_a_row_per_element_with_index():
    t = Translator(listing("items", **{"index-col": "pos"}))
    out = t.translate(["a", ["nested"], None])
    assert t.tables["items"].columns == ("pos", "value")
    assert out["items"] == [{"pos": 0, "value": "a"},
                            {"pos": 1, "value": '["nested"]'},
                            {"pos": 2, "value": None}]


def test_list_of_hdicts_flattens_and_elements_may_own_tables():
    spec = {"translation-type": tr.LIST, "table-name": "ports",
            "translator": hdict(fields=[
                "name", {"fieldname": "ips", "translator": listing(
                    "port_ips", **{"parent-key": "port_id"})}],
                **{"id-col": "id"})}
    t = Translator(spec)
    out = t.translate([{"name": "p1", "ips": ["10.0.0.1"]}, {"name": "p2"}])
    assert t.tables["ports"].columns == ("id", "name")
    assert [r["name"] for r in out["ports"]] == ["p1", "p2"]
    assert out["port_ips"] == [{"port_id": out["ports"][0]["id"],
                                "value": "10.0.0.1"}]
    assert t.tables["port_ips"].column_docs["port_id"] == \
        "id of the parent row in ports"


# -- validation ----------------------------------------------------------

@pytest.mark.parametrize("spec,message", [
    ({"translation-type": "tree", "table-name": "t"},
     "translation-type must be one of"),
    ({**hdict("t"), "colour": "red"}, "unknown key"),
    (hdict("t", [{"fieldname": "a", "colum": "b"}]), "unknown key"),
    (hdict(None), "'table-name' is required"),
    (hdict("t", []), "non-empty list 'field-translators'"),
    (hdict("t", [{"col": "a"}]), "'fieldname' is required"),
    (hdict("t", ["a"], **{"selector-type": "xpath"}), "selector-type"),
    ({"translation-type": tr.VDICT, "table-name": "t", "val-col": "v"},
     "needs 'key-col'"),
    ({"translation-type": tr.VDICT, "table-name": "t", "key-col": "k"},
     "needs 'val-col'"),
    ({"translation-type": tr.LIST, "table-name": "t"}, "needs 'val-col'"),
    (listing("t", translator=hdict(fields=["a"])), "'val-col' is "
                                                   "meaningless"),
    (listing("t", translator=vdict("x")), "must be a value or an hdict"),
    (listing("t", **{"val-col": None, "translator": hdict("inner")}),
     "not allowed here"),
    (hdict("t", ["a", {"fieldname": "b", "translator": listing("c")}],
           **{"id-col": "id"}), "needs 'parent-key'"),
    (hdict("t", ["a", {"fieldname": "b", "translator": listing(
        "c", **{"parent-key": "t_id"})}]), "does not declare"),
    (hdict("t", ["a", {"fieldname": "b", "col": "x", "translator": listing(
        "c", **{"parent-key": "t_id"})}], **{"id-col": "id"}),
     "'col' is meaningless"),
    (hdict("t", ["a", {"fieldname": "b", "col": "a"}]), "column 'a' twice"),
    (hdict("t", ["a"], **{"parent-key": "a"}), "column 'a' twice"),
    (hdict("t", ["a"], **{"col-docs": {"b": "nope"}}),
     "col-docs names column 'b'"),
    (hdict("t", ["a"], **{"id-col": "id", "id-from": ["b"]}),
     "'id-from' names 'b'"),
    (hdict("t", ["a"], **{"id-from": ["a"]}), "'id-from' needs 'id-col'"),
    (hdict("t", ["a", {"fieldname": "b", "translator": hdict(
        "t", ["x"], **{"parent-key": "p"})}], **{"id-col": "id"}),
     "duplicate table name 't'"),
    ("not a dict", "must be a dict"),
])
def test_invalid_declarations_are_refused(spec, message):
    with pytest.raises(tr.TranslatorError, match=message):
        Translator(spec)


def test_translator_errors_are_one_line_stackvault_errors():
    with pytest.raises(exceptions.StackvaultError) as info:
        Translator(hdict("stacks", ["a", {"fieldname": "b", "colour": 1}]))
    assert "\n" not in str(info.value)
    assert "stacks.field-translators[1]" in str(info.value)


def test_catalog_refuses_a_table_name_twice():
    with pytest.raises(tr.TranslatorError, match="duplicate table name 't'"):
        tr.Catalog([hdict("t"), vdict("t")])
    catalog = tr.Catalog([hdict("a"), vdict("b")])
    assert list(catalog.tables) == ["a", "b"]
    assert catalog["b"].name == "b"


# -- data of the wrong shape ---------------------------------------------

@pytest.mark.parametrize("spec,data,message", [
    (hdict("t"), "a string", "t: expected an object, got a str"),
    (hdict("t"), [1], r"t\[0\]: expected an object, got a int"),
    (vdict("t"), ["a"], "t: expected an object, got a list"),
    (listing("t"), {"a": 1}, "t: expected a list, got an object"),
    (hdict("t", ["a", {"fieldname": "kids", "translator": listing(
        "k", **{"parent-key": "p"})}], **{"id-col": "id"}),
     {"a": 1, "kids": {"not": "a list"}}, r"t\.kids: expected a list"),
])
def test_malformed_data_says_where(spec, data, message):
    with pytest.raises(tr.MalformedData, match=message):
        Translator(spec).translate(data)
