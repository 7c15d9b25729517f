"""A cloud that accepts connections and never answers: the CLI gives up
within ``[timeouts] request`` instead of hanging (a real socket, a real
openstacksdk connection, the real CLI in a subprocess)."""

import socket
import subprocess
import sys
import textwrap
import threading
import time


def _silent_server():
    """Listen on 127.0.0.1, accept connections, never answer."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held = []

    def accept():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    return server, held


def test_cli_fails_within_the_request_timeout(tmp_path):
    server, held = _silent_server()
    port = server.getsockname()[1]
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(textwrap.dedent(f"""\
        clouds:
          silent:
            auth:
              auth_url: http://127.0.0.1:{port}/identity
              username: u
              password: p
              project_name: p
              user_domain_name: Default
              project_domain_name: Default
        """))
    conf = tmp_path / "stackvault.conf"
    conf.write_text(f"[timeouts]\nrequest = 2\n"
                    f"[filesystem_bank]\npath = {tmp_path / 'bank'}\n")
    env = {"OS_CLIENT_CONFIG_FILE": str(clouds), "PATH": "/usr/bin:/bin",
           "HOME": str(tmp_path)}
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "protection.cli.main", "--config-file",
             str(conf), "--os-cloud", "silent", "resource", "list"],
            env=env, capture_output=True, text=True, timeout=60)
    finally:
        server.close()
        for conn in held:
            conn.close()
    elapsed = time.monotonic() - started
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("stackvault: cloud error:"), lines
    # A bound, not a benchmark: two-second requests (keystoneauth may try
    # the discovery and the token once each) end far below a hang.
    assert elapsed < 30, elapsed
