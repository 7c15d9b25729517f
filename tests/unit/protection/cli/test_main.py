"""The ``stackvault`` CLI, end to end over the fake cloud and a real bank."""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import mock
import pytest
import yaml
from openstack import exceptions as sdk_exceptions
from oslo_config import cfg

from protection import config
from protection.bank.filesystem import FileSystemBank
from protection.checkpoint import owner as checkpoint_owner
from protection.checkpoint import store as cp
from protection import exceptions
from protection.cli import main as cli
from protection.service import ProtectionService
from tests.fakes.cli import Cli
from tests.fakes.cli import assert_one_line_error


@pytest.fixture
def run(tmp_path):
    return Cli(tmp_path)


# -- the whole cycle ----------------------------------------------------------
def test_protect_list_show_verify_restore_delete_cycle(run):
    protected = run.json("protect", "--name", "nightly", "Test::Server=web",
                         "Test::Server=db", "--parameter",
                         "Test::Volume:mode=incremental")
    assert protected["status"] == "success"
    assert protected["operation"] == "protect"
    checkpoint_id = protected["checkpoint_id"]
    assert protected["resources"] == {
        key: "available" for key in [
            "Test::Image#img", "Test::Network#net", "Test::Server#db",
            "Test::Server#web", "Test::Volume#vol-db",
            "Test::Volume#vol-web"]}
    assert protected["failures"] == []
    assert run.err == ""                     # no tty: no progress lines

    listed = run.json("checkpoint", "list")
    assert listed == [{"ID": checkpoint_id, "Name": "nightly",
                       "Status": "available",
                       "Created": listed[0]["Created"], "Resources": 6}]

    shown = run.json("checkpoint", "show", checkpoint_id)
    assert shown["id"] == checkpoint_id
    assert shown["status"] == "available"
    assert shown["plan"]["name"] == "nightly"
    assert shown["plan"]["resources"] == [["Test::Server", "web"],
                                          ["Test::Server", "db"]]
    assert shown["plan"]["parameters"] == {
        "Test::Volume": {"mode": "incremental"}}
    assert shown["errors"] == []
    assert str(run.bank_path) in shown["bank"]
    assert len(shown["graph"]["nodes"]) == 6
    assert shown["graph"]["roots"] == [["Test::Server", "web"],
                                       ["Test::Server", "db"]]

    run.connect.reset_mock()
    verified = run.json("checkpoint", "verify", "--offline", checkpoint_id)
    assert verified["status"] == "success"
    assert verified["problems"] == []
    assert verified["checkpoint_id"] == checkpoint_id
    run.connect.assert_not_called()          # offline means no cloud

    before = set(run.cloud.records)
    restored = run.json("restore", checkpoint_id, "--parameter",
                        "Test::Server#web:restore_name=web-copy")
    assert restored["status"] == "success"
    assert restored["checkpoint_id"] == checkpoint_id
    assert restored["policy"] == "rollback"
    assert restored["left_behind"] == {}
    mapping = restored["restored"]
    assert sorted(mapping) == sorted(protected["resources"])
    created = set(run.cloud.records) - before
    assert set(mapping.values()) == created
    web = run.cloud.records[mapping["Test::Server#web"]]
    assert web["name"] == "web-copy"
    assert web["data"] == b"web-spec"
    # The new server points at the new volume and network, not the old.
    assert web["children"] == {"vol-web": mapping["Test::Volume#vol-web"],
                               "net": mapping["Test::Network#net"]}
    db = run.cloud.records[mapping["Test::Server#db"]]
    assert db["name"] == "db"
    assert db["children"]["net"] == mapping["Test::Network#net"]

    deleted = run.json("checkpoint", "delete", checkpoint_id)
    assert deleted["status"] == "success"
    assert run.json("checkpoint", "list") == []
    assert run.bank_files() == []
    assert run("checkpoint", "show", checkpoint_id) == 2
    assert_one_line_error(run, checkpoint_id, "does not exist")


def test_table_output_of_protect_and_show(run):
    assert run("protect", "--name", "tbl", "Test::Volume=vol-web") == 0
    assert run.out.startswith("+")
    assert "| Field" in run.out and "| Value" in run.out
    assert "| status        | success" in run.out
    line = next(x for x in run.out.splitlines() if "checkpoint_id" in x)
    checkpoint_id = line.split("|")[2].strip()
    assert "Test::Image#img: available" in run.out
    assert "failures" not in run.out            # empty fields left out

    assert run("checkpoint", "show", checkpoint_id) == 0
    assert "| tree" in run.out
    lines = run.out.splitlines()
    tree_at = next(i for i, x in enumerate(lines) if "| tree" in x)
    assert "Test::Volume vol-web" in lines[tree_at]
    assert "  Test::Image img" in lines[tree_at + 1]


def test_checkpoint_list_formats(run):
    first = run.protect("Test::Volume=vol-web", name="one")
    second = run.protect("Test::Network=net", name="two")

    assert run("checkpoint", "list", "-f", "value") == 0
    rows = [line.split(" ") for line in run.out.splitlines()]
    assert sorted((r[0], r[1], r[2]) for r in rows) == sorted(
        [(first, "one", "available"), (second, "two", "available")])

    assert run("checkpoint", "list", "-f", "yaml") == 0
    data = yaml.safe_load(run.out)
    assert sorted(d["ID"] for d in data) == sorted([first, second])
    assert {d["Resources"] for d in data} == {1, 2}

    assert run("checkpoint", "list") == 0
    header = run.out.splitlines()[1]
    for column in ("ID", "Name", "Status", "Created", "Resources"):
        assert column in header
    assert first in run.out and second in run.out


def test_the_embedded_cli_lists_every_projects_checkpoints(run):
    """Checkpoints the API made for two projects, in the CLI's bank: the
    CLI (one user, its own bank) shows both, as before projects."""
    conf = config.load_config([str(run.config)], conf=cfg.ConfigOpts())
    service = ProtectionService(conf, run.registry,
                                FileSystemBank(str(run.bank_path)))
    made = [service.protect(run.cloud, project, [("Test::Network", "net")],
                            tenancy=cp.Tenancy(project, "u")).checkpoint_id
            for project in ("proj-a", "proj-b")]
    listed = run.json("checkpoint", "list")
    assert sorted(c["ID"] for c in listed) == sorted(made)
    assert run("checkpoint", "show", made[1]) == 0


def test_resource_list_and_show(run):
    listed = run.json("resource", "list", "--type", "Test::Volume")
    assert listed == [
        {"Type": "Test::Volume", "ID": "vol-web", "Name": "vol-web"},
        {"Type": "Test::Volume", "ID": "vol-db", "Name": "vol-db"}]
    assert run("resource", "list", "-f", "value") == 0
    assert "Test::Server web web" in run.out.splitlines()
    assert len(run.out.splitlines()) == 6

    shown = run.json("resource", "show", "Test::Server", "web")
    assert shown["resource"]["id"] == "web"
    assert len(shown["graph"]["nodes"]) == 4

    assert run("resource", "show", "Test::Server", "web") == 0
    assert "|   Test::Volume  | vol-web" in run.out
    assert "|     Test::Image | img" in run.out


def test_progress_lines_on_request(run):
    assert run("--progress", "protect", "--name", "p",
               "Test::Volume=vol-web", "-f", "json") == 0
    assert json.loads(run.out)["status"] == "success"
    lines = run.err.splitlines()
    assert any("Test::Volume vol-web" in x and "done" in x for x in lines)
    assert any("Test::Image img" in x and "running" in x for x in lines)


# -- failures: exit 1 ---------------------------------------------------------
def test_failed_operation_exits_1_with_document_and_one_line(run):
    run.cloud.fail.add(("protect", "vol-db"))
    assert run("protect", "--name", "bad", "Test::Server=db",
               "-f", "json") == 1
    document = json.loads(run.out)
    assert document["status"] == "failed"
    assert document["checkpoint_id"]
    assert document["failures"][0]["resource"] == "Test::Volume#vol-db"
    assert "quota exceeded" in document["failures"][0]["message"]
    assert run.err.count("\n") == 1
    assert run.err.startswith("stackvault: protect failed: "
                              "Test::Volume vol-db")
    assert "quota exceeded" in run.err
    assert "Traceback" not in run.err


def test_verify_of_a_damaged_checkpoint_exits_1(run):
    checkpoint_id = run.protect("Test::Volume=vol-web")
    data = (run.bank_path / "checkpoints" / checkpoint_id / "resources" /
            "Test::Volume" / "vol-web" / "data")
    data.write_bytes(b"tampered")
    assert run("checkpoint", "verify", "--offline", checkpoint_id,
               "-f", "json") == 1
    document = json.loads(run.out)
    assert document["status"] == "failed"
    assert any("resources/Test::Volume/vol-web/data: sha256 mismatch" in p
               for p in document["problems"])
    assert run.err.startswith("stackvault: verify failed: ")
    assert run.err.count("\n") == 1


def _bank_object(run, checkpoint_id, relative):
    return run.bank_path / "checkpoints" / checkpoint_id / relative


def test_restore_of_a_tampered_checkpoint_exits_1_naming_the_object(run):
    checkpoint_id = run.protect("Test::Volume=vol-web")
    _bank_object(run, checkpoint_id,
                 "resources/Test::Volume/vol-web/data").write_bytes(b"x")
    assert run("restore", checkpoint_id) == 1
    assert_one_line_error(run, "stackvault: error: ", "nothing was restored",
                          "resources/Test::Volume/vol-web/data: sha256 "
                          "mismatch")
    assert run.cloud.created() == []


def test_a_damaged_checkpoint_is_listed_shown_and_refused(run):
    good = run.protect("Test::Volume=vol-web", name="good")
    bad = run.protect("Test::Volume=vol-db", name="bad")
    _bank_object(run, bad, "manifest.json").write_bytes(b'{"obj')
    listed = {c["ID"]: c for c in run.json("checkpoint", "list")}
    assert listed[good]["Status"] == "available"
    assert listed[bad]["Status"] == "damaged"
    shown = run.json("checkpoint", "show", bad)
    assert shown["status"] == "damaged"
    assert shown["damage"].startswith("manifest.json: not valid JSON")
    for argv in (("restore", bad), ("checkpoint", "verify", bad)):
        assert run(*argv) == 1
        assert_one_line_error(run, f"checkpoint {bad} is damaged: "
                                   "manifest.json: not valid JSON")
    assert run("checkpoint", "delete", bad) == 0


def test_an_unreadable_index_is_listed_and_deleted_with_a_warning(run):
    bad = run.protect("Test::Volume=vol-db", name="bad")
    assert run("checkpoint", "list") == 0       # the catalog is built
    _bank_object(run, bad, "index.json").write_bytes(b"[]")
    # Damaged behind stackvault's back: the catalog learns it from the
    # bank when rebuilt.
    assert run("checkpoint", "list") == 0
    assert "damaged" not in run.out
    assert run.json("checkpoint", "reindex") == {
        "added": 0, "updated": 1, "removed": 0, "total": 1}
    assert run("checkpoint", "list") == 0
    assert "damaged" in run.out
    document = run.json("checkpoint", "delete", bad)
    assert "delete flows could not run" in document["warnings"][0]
    assert run.bank_files() == []


def test_delete_of_a_checkpoint_a_live_process_owns_exits_2(run):
    checkpoint_id = run.protect("Test::Volume=vol-web")
    index_path = _bank_object(run, checkpoint_id, "index.json")
    index = json.loads(index_path.read_text())
    index["status"] = "protecting"
    index["owner"] = {"operation_id": "op-9", "pid": os.getpid(),
                      "host": checkpoint_owner.this_host()}
    # Edited by hand: written as a format 1 index without a hash.
    del index["index_hash"]
    index_path.write_text(json.dumps(index))
    _bank_object(run, checkpoint_id, "index.sha256").unlink()
    assert run("checkpoint", "delete", "--force", checkpoint_id) == 2
    assert_one_line_error(run, "stackvault: error: ", "operation op-9",
                          f"pid {os.getpid()}", "still running")


def test_a_refused_commit_exits_1(run):
    with mock.patch("protection.checkpoint.store.Checkpoint.lost_ownership",
                    return_value="its index.json is gone"):
        assert run("protect", "--name", "x", "Test::Volume=vol-web") == 1
    assert_one_line_error(run, "stackvault: error: ", "was not committed",
                          "its index.json is gone")


def test_a_bank_error_exits_1(run):
    with mock.patch("protection.bank.filesystem.FileSystemBank.list",
                    side_effect=exceptions.BankError("disk on fire")):
        assert run("checkpoint", "list") == 1
    assert_one_line_error(run, "stackvault: error: disk on fire")


def test_cloud_error_exits_1_without_traceback(run):
    run.connect.side_effect = sdk_exceptions.HttpException(
        "503 Service Unavailable")
    assert run("resource", "list") == 1
    assert_one_line_error(run, "cloud error", "503 Service Unavailable")


def test_internal_error_is_one_line_unless_debug(run):
    with mock.patch("protection.checkpoint.store.CheckpointStore.list",
                    side_effect=RuntimeError("kaboom")):
        assert run("checkpoint", "list") == 1
        assert_one_line_error(run, "internal error", "RuntimeError",
                              "kaboom", "--debug")
        with pytest.raises(RuntimeError):
            run("--debug", "checkpoint", "list")


# -- user mistakes: exit 2, one line ------------------------------------------
@pytest.mark.parametrize("ref", ["Test:Server=web", "Test::Server",
                                 "Test::Server=", "web"])
def test_bad_type_equals_id(run, ref):
    assert run("protect", "--name", "x", ref) == 2
    assert_one_line_error(run, "expected TYPE=ID", repr(ref))
    run.connect.assert_not_called()


@pytest.mark.parametrize("assignment", [
    "mode=full", "Test::Volume:mode", "Test::Volume=full",
    "Test::Volume::mode=full"])
def test_bad_parameter_syntax(run, assignment):
    assert run("protect", "--name", "x", "Test::Volume=vol-web",
               "--parameter", assignment) == 2
    assert_one_line_error(run, "stackvault: error:", "TYPE[#ID]:KEY=VALUE")
    assert run.bank_files() == []


def test_bad_parameter_syntax_on_restore(run):
    checkpoint_id = run.protect("Test::Volume=vol-web")
    assert run("restore", checkpoint_id, "--parameter", "nonsense") == 2
    assert_one_line_error(run, "TYPE[#ID]:KEY=VALUE")


def test_invalid_parameter_value_names_resource_key_reason(run):
    assert run("protect", "--name", "x", "Test::Volume=vol-web",
               "--parameter", "Test::Volume:mode=differential") == 2
    assert_one_line_error(run, "'mode'", "Test::Volume vol-web",
                          "differential")
    assert run.json("checkpoint", "list") == []      # no work started


def test_unknown_restore_parameter(run):
    checkpoint_id = run.protect("Test::Volume=vol-web")
    before = set(run.cloud.records)
    assert run("restore", checkpoint_id, "--parameter",
               "Test::Volume#vol-web:colour=blue") == 2
    assert_one_line_error(run, "'colour'", "unknown parameter")
    assert set(run.cloud.records) == before


def test_parameter_for_a_resource_not_in_the_operation(run):
    assert run("protect", "--name", "x", "Test::Volume=vol-web",
               "--parameter", "Test::Volume#vol-db:mode=full") == 2
    assert_one_line_error(run, "Test::Volume#vol-db", "no such resource")


@pytest.mark.parametrize("argv", [
    ("checkpoint", "show", "0000-not-there"),
    ("checkpoint", "delete", "0000-not-there"),
    ("checkpoint", "verify", "--offline", "0000-not-there"),
    ("restore", "0000-not-there"),
    ("checkpoint", "show", "../../etc"),
    # found by the fuzz suite: a name too long for the filesystem was
    # an internal error (OSError ENAMETOOLONG)
    ("restore", "9" * 400),
    ("checkpoint", "delete", "9" * 256),
])
def test_unknown_checkpoint(run, argv):
    assert run(*argv) == 2
    assert_one_line_error(run, "stackvault: error: checkpoint",
                          "does not exist")


def test_missing_cloud(run, monkeypatch):
    monkeypatch.delenv("OS_CLOUD", raising=False)
    monkeypatch.delenv("OS_AUTH_URL", raising=False)
    run.connect = cli.cloud.connect            # the real one
    assert run("resource", "list") == 2
    assert_one_line_error(run, "no cloud configured", "--os-cloud",
                          "OS_CLOUD")


def test_cloud_not_in_clouds_yaml(run, monkeypatch, tmp_path):
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds:\n  other:\n    auth:\n"
                      "      auth_url: http://127.0.0.1:1/identity\n")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    monkeypatch.delenv("OS_CLOUD", raising=False)
    run.connect = cli.cloud.connect
    assert run("--os-cloud", "nope", "resource", "list") == 2
    assert_one_line_error(run, "cannot use cloud 'nope'")


@pytest.mark.parametrize("argv", [
    ("protect", "--name", "x", "OS::Nova::Server=abc"),
    ("resource", "list", "--type", "OS::Nova::Server"),
    ("resource", "show", "OS::Nova::Server", "abc"),
])
def test_unknown_plugin_type(run, argv):
    assert run(*argv) == 2
    assert_one_line_error(run, "no protection plugin",
                          "'OS::Nova::Server'", "Test::Volume")


def test_unknown_resource(run):
    assert run("resource", "show", "Test::Server", "ghost") == 2
    assert_one_line_error(run, "Test::Server ghost not found")


def test_missing_config_file(run, tmp_path):
    missing = tmp_path / "nope.conf"
    assert run("--config-file", str(missing), "checkpoint", "list",
               config=False) == 2
    assert_one_line_error(run, str(missing), "does not exist")


def test_bad_config_value(run):
    run.config.write_text("[engine]\nmax_workers = lots\n")
    assert run("checkpoint", "list") == 2
    assert_one_line_error(run, "bad configuration", "max_workers")


@pytest.mark.parametrize("argv, words", [
    ((), ["required", "COMMAND"]),
    (("frobnicate",), ["invalid choice", "frobnicate"]),
    (("checkpoint",), ["required", "ACTION"]),
    (("checkpoint", "list", "-f", "xml"), ["invalid choice", "xml"]),
    (("protect", "Test::Volume=vol-web"), ["--name"]),
    (("protect", "--name", "x"), ["TYPE=ID"]),
    (("restore", "cp", "--on-failure", "pray"), ["invalid choice", "pray"]),
])
def test_usage_errors(run, argv, words):
    assert run(*argv) == 2
    assert_one_line_error(run, "stackvault", *words)


def test_an_interrupted_operation_prints_how_to_finish_or_undo_it(run):
    from protection.operations import runner
    from protection.service import ProtectionService
    checkpoint_id = run.protect("Test::Volume=vol-web")
    with mock.patch.object(ProtectionService, "restore",
                           side_effect=runner.OperationInterrupted("op-7")):
        assert run("restore", checkpoint_id) == 130
    assert_one_line_error(run, "operation op-7",
                          "stackvault operation resume op-7",
                          "stackvault operation abort op-7")


def test_operation_commands(run):
    checkpoint_id = run.protect("Test::Volume=vol-web")
    listed = run.json("operation", "list")
    [row] = [r for r in listed if r["Checkpoint"] == checkpoint_id]
    assert row["Kind"] == "protect" and row["Status"] == "succeeded"
    shown = run.json("operation", "show", row["ID"])
    assert shown["operation_id"] == row["ID"]
    assert shown["result"]["status"] == "success"
    assert run("operation", "resume", row["ID"]) == 2
    assert_one_line_error(run, "has already ended")
    assert run("operation", "abort", "no-such-op") == 2
    assert_one_line_error(run, "operation no-such-op does not exist")


# -- restore --dry-run, pre-flight and selective restore ---------------------
def test_dry_run_prints_the_plan_and_exits_0_creating_nothing(run):
    checkpoint_id = run.protect("Test::Server=web")
    run.cloud.log.clear()
    assert run("restore", checkpoint_id, "--dry-run") == 0, run.err
    assert "Plan (resources of one stage run in parallel):" in run.out
    assert "Test::Server#web (web)" in run.out
    assert "PASS" in run.out and "checkpoint verifies" in run.out
    assert run.cloud.created() == []
    report = run.json("restore", checkpoint_id, "--dry-run")
    assert report["ok"] is True
    assert [s["parallel"] for s in report["plan"]][-1] == [
        "Test::Server#web"]
    assert {c["verdict"] for c in report["checks"]} == {"pass"}


def test_dry_run_with_a_failing_check_exits_1_naming_it(run):
    checkpoint_id = run.protect("Test::Server=web")
    run.cloud.refuse.add("web")
    assert run("restore", checkpoint_id, "--dry-run", "-f", "json") == 1
    assert json.loads(run.out)["failing"] == [
        "Test::Server#web: room: no room for web"]
    assert "1 pre-flight check(s) fail: Test::Server#web: room" in run.err
    assert run("restore", checkpoint_id) == 1
    assert_one_line_error(run, "pre-flight failed, nothing was created",
                          "room: no room for web", "--skip-preflight")
    assert run.cloud.created() == []
    assert run("restore", checkpoint_id, "--skip-preflight",
               "-f", "json") == 0
    assert run.cloud.created() != []


def test_only_and_exclude_on_the_command_line(run):
    checkpoint_id = run.protect("Test::Server=web")
    restored = run.json("restore", checkpoint_id,
                        "--only", "Test::Volume=vol-web")["restored"]
    assert sorted(restored) == ["Test::Image#img", "Test::Volume#vol-web"]
    report = run.json("restore", checkpoint_id, "--dry-run", "--exclude",
                      "Test::Network=net", "--parameter",
                      'Test::Server:child_mapping={"net": "other"}')
    assert report["excluded"] == [{"resource": "Test::Network#net",
                                   "needed_by": ["Test::Server#web"]}]


@pytest.mark.parametrize("argv,words", [
    (("--only", "Test::Volume=nope"), ["--only Test::Volume=nope: no such "
                                       "resource in this checkpoint"]),
    (("--exclude", "volume"), ["expected TYPE=ID"]),
    (("--dry-run", "--skip-preflight"), ["cannot be skipped"]),
])
def test_bad_selection_exits_2_on_one_line(run, argv, words):
    checkpoint_id = run.protect("Test::Server=web")
    assert run("restore", checkpoint_id, *argv) == 2
    assert_one_line_error(run, *words)


def test_listing_checkpoints_imports_no_cloud_or_engine_library(tmp_path):
    """``checkpoint list`` reads the catalog: it must not pay for
    importing openstacksdk or TaskFlow (doc/operations.rst,
    "Performance"); SQLAlchemy it needs."""
    config = tmp_path / "stackvault.conf"
    config.write_text(f"[filesystem_bank]\npath = {tmp_path / 'bank'}\n"
                      f"[persistence]\nconnection = sqlite:///"
                      f"{tmp_path / 'state' / 'sv.db'}\n")
    code = ("import sys; from protection.cli import main; "
            f"rc = main.main(['--config-file', {str(config)!r}, "
            "'checkpoint', 'list']); "
            "print(sorted(m for m in ('openstack', 'taskflow')"
            " if m in sys.modules)); sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


def _with_bank_key(run, mode=0o600, size=32):
    key_file = run.tmp_path / "bank.key"
    key_file.write_bytes(os.urandom(size))
    os.chmod(key_file, mode)
    run.config.write_text(run.config.read_text().replace(
        "[filesystem_bank]", f"[bank]\nkey_file = {key_file}\n\n"
                             "[filesystem_bank]"))


def test_with_a_bank_key_a_rehashed_index_is_damaged_for_verify_and_restore(
        run):
    _with_bank_key(run)
    checkpoint_id = run.protect("Test::Volume=vol-web")
    assert run.json("checkpoint", "verify", "--offline",
                    checkpoint_id)["status"] == "success"
    index_path = _bank_object(run, checkpoint_id, "index.json")
    index = json.loads(index_path.read_text())
    index["plan"]["name"] = "forged"
    index_path.write_text(json.dumps(index))
    hash_path = _bank_object(run, checkpoint_id, "index.sha256")
    hashes = json.loads(hash_path.read_text())
    hashes["sha256"] = hashlib.sha256(index_path.read_bytes()).hexdigest()
    hash_path.write_text(json.dumps(hashes))
    # The list reads the catalog, which recorded the checkpoint as it was
    # written; reading the bank again (reindex) finds the forgery.
    assert run("checkpoint", "reindex") == 0
    listed = {c["ID"]: c for c in run.json("checkpoint", "list")}
    assert listed[checkpoint_id]["Status"] == "damaged"
    for argv in (("restore", checkpoint_id),
                 ("checkpoint", "verify", "--offline", checkpoint_id)):
        assert run(*argv) == 1
        assert_one_line_error(run, f"checkpoint {checkpoint_id} is damaged: "
                                   "index.sha256: signature does not match")
    assert run.cloud.created() == []


@pytest.mark.parametrize("mode, size, words", [
    (0o644, 32, "chmod 600"), (0o600, 16, "at least 32 bytes")])
def test_a_bad_bank_key_file_exits_2_with_one_line(run, mode, size, words):
    _with_bank_key(run, mode, size)
    assert run("checkpoint", "list") == 2
    assert_one_line_error(run, "[bank] key_file", words)


def test_checkpoint_list_pages_with_limit_and_marker(run):
    made = [run.protect("Test::Volume=vol-web", name=f"cp{n}")
            for n in range(3)]
    listed = [c["ID"] for c in run.json("checkpoint", "list")]
    assert sorted(listed) == sorted(made)
    first = run.json("checkpoint", "list", "--limit", "2")
    rest = run.json("checkpoint", "list", "--limit", "2",
                    "--marker", first[-1]["ID"])
    assert [c["ID"] for c in first + rest] == listed
    assert run("checkpoint", "list", "--marker", "no-such-id") == 2
    assert_one_line_error(run, "--marker no-such-id")
    assert run("checkpoint", "list", "--limit", "0") == 2
    assert "at least 1" in run.err and "Traceback" not in run.err


def test_an_error_quoting_control_characters_stays_one_line(run):
    # found by tests/functional/test_fuzz_cli.py: a newline in what the
    # user typed split the error line (and an escape could drive the
    # terminal)
    assert run("resource", "show", "Test::Server", "a\nb\x1b[31m") == 2
    assert_one_line_error(run, "a\\nb\\x1b[31m", "not found")


def test_a_checkpoint_removed_behind_the_catalog_leaves_it_when_asked_for(
        run):
    # Deleted through another operations database (or deployment): the
    # catalog still lists it; the bank, the truth, says it is gone, and
    # the first command that asks for it drops its row.
    checkpoint_id = run.protect("Test::Volume=vol-web")
    assert len(run.json("checkpoint", "list")) == 1    # the catalog built
    shutil.rmtree(run.bank_path / "checkpoints" / checkpoint_id)
    assert [c["ID"] for c in run.json("checkpoint", "list")] == \
        [checkpoint_id]
    assert run("checkpoint", "show", checkpoint_id) == 2
    assert_one_line_error(run, f"checkpoint {checkpoint_id} does not exist")
    assert run.json("checkpoint", "list") == []


def test_sign_keeps_older_checkpoints_restorable_once_a_key_is_set(run):
    # Protected before the key was set (format 2, unsigned): with the key
    # it is damaged for restore until the operator signs it.
    checkpoint_id = run.protect("Test::Volume=vol-web")
    _with_bank_key(run)
    assert run("checkpoint", "verify", "--offline", checkpoint_id) == 1
    assert_one_line_error(run, "not signed")

    assert run.json("checkpoint", "sign", checkpoint_id) == [
        {"ID": checkpoint_id, "Result": "signed"}]
    index = json.loads(_bank_object(run, checkpoint_id,
                                    "index.json").read_text())
    assert index["format_version"] == 3 and index["manifest_mac"]
    assert run.json("checkpoint", "verify", "--offline",
                    checkpoint_id)["status"] == "success"
    assert run.json("checkpoint", "sign", checkpoint_id) == [
        {"ID": checkpoint_id, "Result": "signed already"}]
    [record, *_] = run.json("audit", "list")
    assert (record["action"], record["target"], record["outcome"]) == \
        ("sign", checkpoint_id, "succeeded")


def test_sign_all_signs_what_is_whole_and_refuses_the_rest(run):
    whole = run.protect("Test::Volume=vol-web", name="whole")
    broken = run.protect("Test::Volume=vol-web", name="broken")
    index_path = _bank_object(run, broken, "index.json")
    index = json.loads(index_path.read_text())
    index["name"] = "edited without rehashing"
    index_path.write_text(json.dumps(index))
    _with_bank_key(run)
    signed_later = run.protect("Test::Volume=vol-web", name="signed")

    assert run("checkpoint", "sign", "--all", "--format", "json") == 1
    results = {row["ID"]: row["Result"] for row in json.loads(run.out)}
    assert results[whole] == "signed"
    assert results[signed_later] == "signed already"
    assert results[broken].startswith(f"refused: checkpoint {broken} is "
                                      "damaged")
    assert run("checkpoint", "verify", "--offline", broken) == 1


def test_a_signature_once_broken_is_never_signed_again(run):
    # Stripping a signed checkpoint's MAC must not make it signable: only
    # checkpoints that were never signed are.
    _with_bank_key(run)
    checkpoint_id = run.protect("Test::Volume=vol-web")
    hash_path = _bank_object(run, checkpoint_id, "index.sha256")
    hashes = json.loads(hash_path.read_text())
    for field in ("mac", "previous_mac", "key_id"):
        hashes.pop(field, None)
    hash_path.write_text(json.dumps(hashes))
    assert run("checkpoint", "sign", checkpoint_id) == 1
    assert "refused" in run.out and "not signed" in run.out
    assert run("checkpoint", "verify", "--offline", checkpoint_id) == 1


def test_sign_without_a_key_or_without_ids_exits_2(run):
    checkpoint_id = run.protect("Test::Volume=vol-web")
    assert run("checkpoint", "sign", checkpoint_id) == 2
    assert_one_line_error(run, "[bank] key_file")
    _with_bank_key(run)
    assert run("checkpoint", "sign") == 2
    assert "Traceback" not in run.err


def test_list_shows_a_checkpoint_damaged_once_a_read_finds_it(run):
    checkpoint_id = run.protect("Test::Volume=vol-web")
    run.json("checkpoint", "list")      # the first list builds the catalog
    index_path = _bank_object(run, checkpoint_id, "index.json")
    index = json.loads(index_path.read_text())
    index["name"] = "edited behind stackvault's back"
    index_path.write_text(json.dumps(index))
    listed = {c["ID"]: c for c in run.json("checkpoint", "list")}
    assert listed[checkpoint_id]["Status"] == "available"     # the catalog
    assert run.json("checkpoint", "show", checkpoint_id)["status"] == \
        "damaged"
    listed = {c["ID"]: c for c in run.json("checkpoint", "list")}
    assert listed[checkpoint_id]["Status"] == "damaged"
