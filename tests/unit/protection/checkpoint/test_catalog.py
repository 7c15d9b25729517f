"""The checkpoint catalog's pages (protection.checkpoint.catalog): keyset
paging by marker in a stable order, filters, project scoping, and a
catalog that cannot be written never failing what the bank recorded."""

import logging
import time

import pytest

from protection.checkpoint import catalog as catalog_mod
from protection.checkpoint import store as cp
from protection.bank.filesystem import FileSystemBank
from protection.db import engine as db_engine
from protection.model.graph import ResourceGraph
from protection.model.resource import Resource
from protection.plans import retention


@pytest.fixture
def catalog(tmp_path):
    return catalog_mod.Catalog(
        db_engine.make_engine(f"sqlite:///{tmp_path / 'sv.db'}"))


def _row(checkpoint_id, created_at=100.0, project_id="a", **values):
    row = {"id": checkpoint_id, "project_id": project_id, "user_id": "u",
           "plan_id": None, "name": checkpoint_id, "status": "available",
           "created_at": created_at, "updated_at": created_at, "size": 1,
           "resource_count": 1, "owner": None, "recorded_at": 0.0}
    row.update(values)
    return row


def _walk(catalog, limit, **kwargs):
    """Every page of the list, in order, following the markers."""
    seen, marker = [], None
    for _page in range(100):
        found, more = catalog.page(limit=limit, marker=marker, **kwargs)
        seen.extend(row["id"] for row in found)
        if not more:
            return seen
        marker = found[-1]["id"]
    raise AssertionError("the pages never ended")


def test_equal_timestamps_page_in_one_stable_order(catalog):
    ids = [f"cp-{n:02d}" for n in range(11)]
    shuffled = ids[5:] + ids[:5]
    catalog._upsert([_row(i, created_at=100.0 + (i >= "cp-06"))
                     for i in shuffled])
    expected = sorted(ids, key=lambda i: (i >= "cp-06", i))
    for limit in (1, 2, 3, 11, 50):
        assert _walk(catalog, limit) == expected
        assert _walk(catalog, limit, descending=True) == expected[::-1]


def test_sort_by_name_and_filters(catalog):
    catalog._upsert([
        _row("1", name="b", plan_id="nightly"),
        _row("2", name="a", status="error"),
        _row("3", name="c", plan_id="nightly", status="error")])
    assert _walk(catalog, 2, sort="name") == ["2", "1", "3"]
    assert _walk(catalog, 1, filters={"status": "error"}) == ["2", "3"]
    assert _walk(catalog, 5, filters={"plan_id": "nightly",
                                      "status": "error"}) == ["3"]
    assert _walk(catalog, 5, filters={"name": "a"}) == ["2"]
    with pytest.raises(ValueError):
        catalog.page(sort="size")


def test_another_projects_rows_are_never_listed(catalog):
    catalog._upsert([_row(f"a{n}", project_id="a") for n in range(3)] +
                    [_row(f"b{n}", project_id="b") for n in range(3)] +
                    [_row("legacy", project_id=None)])
    assert _walk(catalog, 2, project_id="a") == ["a0", "a1", "a2"]
    # A marker of another project's list is no marker of this one.
    with pytest.raises(catalog_mod.MarkerNotFound):
        catalog.page(project_id="a", limit=2, marker="b0")
    assert len(_walk(catalog, 2)) == 7          # an admin's every project


def test_a_protecting_row_whose_owner_is_gone_is_shown_interrupted(
        catalog):
    gone = '{"host": "elsewhere", "pid": 1, "operation_id": "op"}'
    catalog._upsert([_row("dead", status="protecting", owner=gone,
                          updated_at=1.0)])
    assert catalog.page()[0][0]["status"] == "interrupted"


def _graph():
    return ResourceGraph.build([Resource("Test::Volume", "vol", "vol")],
                               lambda _r: [])


def test_every_index_write_and_the_removal_reach_the_catalog(catalog,
                                                             tmp_path):
    store = cp.CheckpointStore(FileSystemBank(str(tmp_path / "bank")),
                               catalog=catalog)
    checkpoint = store.create({"name": "n", "plan_name": "nightly"},
                              _graph())
    [row] = catalog.page()[0]
    assert (row["status"], row["plan_id"]) == ("protecting", "nightly")
    checkpoint.put_json("resources/x.json", {"x": 1})
    checkpoint.commit()
    [row] = catalog.page()[0]
    assert row["status"] == "available" and row["size"] > 0
    store.remove(checkpoint)
    assert catalog.page()[0] == []


def test_a_catalog_that_cannot_be_written_fails_nothing(tmp_path, caplog):
    class Broken:
        def record(self, _checkpoint):
            raise OSError("database is gone")

        forget = record
    store = cp.CheckpointStore(FileSystemBank(str(tmp_path / "bank")),
                               catalog=Broken())
    with caplog.at_level(logging.WARNING):
        checkpoint = store.create({"name": "n"}, _graph())
        checkpoint.commit()
        store.remove(checkpoint)
    assert "catalog rebuild" in caplog.text


def test_the_plan_tag_is_retentions():
    assert catalog_mod.PLAN_NAME_TAG == retention.PLAN_NAME


def test_a_rebuild_counts_what_it_changed(catalog, tmp_path):
    store = cp.CheckpointStore(FileSystemBank(str(tmp_path / "bank")))
    made = [store.create({"name": str(n)}, _graph()) for n in range(3)]
    assert catalog.built_from(store) == {"added": 3, "updated": 0,
                                         "removed": 0, "total": 3}
    assert catalog.built_from(store) is None        # built already
    assert {r["id"] for r in catalog.page()[0]} == {c.id for c in made}


def test_a_checkpoint_found_damaged_is_listed_damaged(catalog, tmp_path):
    bank = FileSystemBank(str(tmp_path / "bank"))
    store = cp.CheckpointStore(bank, catalog=catalog)
    checkpoint = store.create({"name": "n"}, _graph())
    checkpoint.commit()
    key = checkpoint.key(cp.INDEX)
    forged = bank.get_json(key)
    forged["name"] = "forged"
    forged["project_id"] = "someone-else"
    bank.put_json(key, forged)
    [row] = catalog.page()[0]
    assert row["status"] == "available"          # listed before the forgery

    assert store.get(checkpoint.id).status == cp.DAMAGED
    [row] = catalog.page()[0]
    # Only the status: the damaged index's claims never reach the row.
    assert (row["status"], row["name"], row["project_id"]) == \
        ("damaged", "n", None)


def test_a_row_recorded_since_the_read_began_stays(catalog, tmp_path):
    # A read that caught a writer between its index and its hash must not
    # mark the row the writer recorded after it.
    store = cp.CheckpointStore(FileSystemBank(str(tmp_path / "bank")),
                               catalog=catalog)
    checkpoint = store.create({"name": "n"}, _graph())
    read_at = time.time() - 1          # the read began before the commit
    checkpoint.commit()
    catalog.mark_damaged(checkpoint.id, read_at=read_at)
    assert catalog.page()[0][0]["status"] == "available"
    catalog.mark_damaged(checkpoint.id, read_at=time.time() + 1)
    assert catalog.page()[0][0]["status"] == "damaged"


def test_the_catalogs_damaged_is_the_stores():
    assert catalog_mod.DAMAGED == cp.DAMAGED


def test_a_catalog_seen_built_is_not_asked_again(catalog, tmp_path):
    """A page asks whether the catalog was ever built only until it has
    seen it built: one query fewer per page."""
    store = cp.CheckpointStore(FileSystemBank(str(tmp_path / "bank")))
    store.create({"name": "n"}, _graph())
    catalog.built_from(store)
    other = catalog_mod.Catalog(catalog.engine)       # another process
    asked = []
    for seen in (catalog, other):
        seen.rebuilt_at = lambda seen=seen: asked.append(seen) or 1.0
        assert seen.built_from(store) is None
        assert seen.built_from(store) is None
    assert asked == [other]
