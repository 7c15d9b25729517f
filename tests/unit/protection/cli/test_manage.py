"""``stackvault-manage``: db version, db sync (stackvault's tables and
TaskFlow's) and catalog rebuild; mistakes are one line."""

import io
import json

import sqlalchemy as sa

from protection.cli import manage
from protection.db import migrate


def _run(tmp_path, *argv):
    config = tmp_path / "stackvault.conf"
    config.write_text(f"[filesystem_bank]\npath = {tmp_path / 'bank'}\n"
                      f"[persistence]\nconnection = sqlite:///"
                      f"{tmp_path / 'sv.db'}\n")
    stdout, stderr = io.StringIO(), io.StringIO()
    code = manage.main(["--config-file", str(config), *argv, "-f", "json"],
                       stdout, stderr)
    return code, json.loads(stdout.getvalue()) if code == 0 else None, \
        stderr.getvalue()


def test_db_sync_migrates_an_empty_database(tmp_path):
    code, shown, _err = _run(tmp_path, "db", "version")
    assert (code, shown) == (0, {"revision": None, "head": migrate.HEAD})
    code, shown, _err = _run(tmp_path, "db", "sync")
    assert (code, shown) == (0, {"revision": migrate.HEAD, "was": None,
                                 "taskflow": "upgraded"})
    tables = sa.inspect(sa.create_engine(
        f"sqlite:///{tmp_path / 'sv.db'}")).get_table_names()
    assert {"stackvault_checkpoints", "logbooks"} <= set(tables)
    assert _run(tmp_path, "db", "sync")[1]["was"] == migrate.HEAD


def test_catalog_rebuild_of_an_empty_bank(tmp_path):
    code, shown, _err = _run(tmp_path, "catalog", "rebuild")
    assert (code, shown) == (0, {"added": 0, "updated": 0, "removed": 0,
                                 "total": 0})


def test_a_mistake_is_one_line(tmp_path):
    stderr = io.StringIO()
    assert manage.main(["--config-file", str(tmp_path / "nope.conf"), "db",
                        "sync"], io.StringIO(), stderr) == 2
    assert stderr.getvalue().count("\n") == 1
    assert "does not exist" in stderr.getvalue()
    assert manage.main(["db", "drop"], io.StringIO(), stderr) == 2
