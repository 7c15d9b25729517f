"""The standalone server answers over HTTP, with the whole pipeline."""

import json
import threading
import urllib.request

import webob

from protection.api import server
from protection.api import workers
from protection.api import wsgi
from protection.cli import main as cli
from tests.fakes import api as fake_api


def test_the_standalone_server_serves_the_pipeline(tmp_path):
    api = fake_api.Api(tmp_path / "bank")
    httpd = server.make_server(api.conf, api.app, "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        with urllib.request.urlopen(f"{url}/") as resp:
            assert json.load(resp)["versions"][0]["id"] == "v1.0"
            assert resp.headers["x-openstack-request-id"]
        request = urllib.request.Request(f"{url}/v1/checkpoints",
                                         headers={"X-Auth-Token": "reader"})
        with urllib.request.urlopen(request) as resp:
            assert json.load(resp) == {"checkpoints": [], "next": None}
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_the_default_port_is_8799():
    conf = fake_api.api_conf()
    assert conf.api.port == 8799


def test_stackvault_api_is_a_cli_command(capsys):
    try:
        cli.main(["api", "--help"])
    except SystemExit as exc:
        assert exc.code == 0
    assert "--port" in capsys.readouterr().out


def test_a_port_in_use_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    conf_file = tmp_path / "stackvault.conf"
    conf_file.write_text("[filesystem_bank]\npath = " + str(tmp_path) +
                         "/bank\n[keystone_authtoken]\n"
                         "www_authenticate_uri = http://ks:5000/v3\n"
                         "auth_type = none\n")
    blocker = server.make_server(fake_api.api_conf(), lambda e, s: [],
                                 "127.0.0.1", 0)
    try:
        code = server.main(["--config-file", str(conf_file), "--host",
                            "127.0.0.1", "--port",
                            str(blocker.server_address[1])])
    finally:
        blocker.server_close()
    assert code == 2
    assert "cannot listen" in capsys.readouterr().err


def test_stopping_leaves_running_operations_interrupted(tmp_path):
    pool = workers.WorkerPool(2, 0)
    api = fake_api.Api(tmp_path / "bank", pool=pool)
    api.clouds["proj-a"].slow.update({"web": 0.5, "db": 0.5})
    resp = api.call("POST", "/v1/checkpoints", "member", {
        "name": "app", "resources": [{"type": "Test::Server", "id": "web"},
                                     {"type": "Test::Server", "id": "db"}]})
    assert resp.status_code == 202
    server.stop_operations(api.service, pool)
    op = api.service.operation(resp.json["operation_id"])
    assert op.shown_status == "interrupted"
    # Still this (living) process's; once it exits, 'interrupted' too.
    checkpoint = api.service.show_checkpoint(resp.json["checkpoint"]["id"])
    assert (checkpoint.status, checkpoint.operation_id) == \
        ("protecting", op.id)


def test_the_wsgi_entry_point_reads_its_config_files_at_first_request(
        tmp_path, monkeypatch):
    conf_file = tmp_path / "stackvault.conf"
    conf_file.write_text(f"[filesystem_bank]\npath = {tmp_path}/bank\n"
                         f"[persistence]\nconnection = "
                         f"sqlite:///{tmp_path}/db.sqlite\n"
                         "[keystone_authtoken]\nwww_authenticate_uri = "
                         "http://keystone.example:5000/v3\n"
                         "auth_type = none\n")
    monkeypatch.setenv(wsgi.CONFIG_FILES_ENV, str(conf_file))
    application = wsgi.LazyApplication()
    resp = webob.Request.blank("/").get_response(application)
    assert resp.status_code == 200
    assert resp.json["versions"][0]["id"] == "v1.0"
    # keystonemiddleware guards the rest (no token: 401, as JSON)
    resp = webob.Request.blank("/v1/checkpoints").get_response(application)
    assert resp.status_code == 401 and resp.json["error"]["request_id"]
    assert "keystone.example" in resp.headers["WWW-Authenticate"]


def test_without_keystone_authtoken_the_api_does_not_start(tmp_path,
                                                            capsys):
    conf_file = tmp_path / "stackvault.conf"
    conf_file.write_text(f"[filesystem_bank]\npath = {tmp_path}/bank\n"
                         f"[persistence]\nconnection = "
                         f"sqlite:///{tmp_path}/db.sqlite\n")
    assert server.main(["--config-file", str(conf_file), "--port",
                        "0"]) == 2
    err = capsys.readouterr().err
    assert "[keystone_authtoken] www_authenticate_uri and auth_type " \
        "not set" in err
    assert len(err.strip().splitlines()) == 1


def test_the_server_queues_a_burst_of_connections():
    """Fifty clients connecting at once are all queued (socketserver's
    backlog of 5 made the rest wait for SYN retries)."""
    from protection.api import server as server_mod
    assert server_mod.ThreadingWSGIServer.request_queue_size >= 64


def test_with_a_jobboard_but_no_trustee_the_api_does_not_start(tmp_path,
                                                               capsys):
    """Operations posted for conductors act with Keystone trusts: without
    a [trustee] user the API refuses to start, naming the group."""
    conf_file = tmp_path / "stackvault.conf"
    conf_file.write_text(f"[filesystem_bank]\npath = {tmp_path}/bank\n"
                         "[persistence]\nconnection = "
                         "mysql+pymysql://u:p@127.0.0.1:1/db\n"
                         "[jobboard]\naddress = 127.0.0.1:1\n")
    assert server.main(["--config-file", str(conf_file), "--port",
                        "0"]) == 2
    err = capsys.readouterr().err
    assert "[trustee] auth_type is not set" in err
    assert len(err.strip().splitlines()) == 1
