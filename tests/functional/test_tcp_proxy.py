"""The fault-injecting TCP proxy of tests/fakes/tcp_proxy.py, against a
real echo server on a real socket: it forwards, ``refuse`` resets,
``blackhole`` answers nothing (the client's own timeout is all that gets
it out), and ``heal`` forwards new connections again."""

import socket
import threading

import pytest

from tests.fakes import tcp_proxy

WAIT = 10.0     # seconds: a bound on what must happen, never a figure


@pytest.fixture
def echo():
    """A server that echoes what it gets back: ``(port, [an Event per
    connection, set when the server saw it end])``."""
    server = socket.create_server(("127.0.0.1", 0))
    ended = []

    def serve(conn, done):
        with conn:
            while True:
                try:
                    data = conn.recv(4096)
                except OSError:
                    break
                if not data:
                    break
                conn.sendall(data)
        done.set()

    def accept():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            ended.append(threading.Event())
            threading.Thread(target=serve, args=(conn, ended[-1]),
                             daemon=True).start()
    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1], ended
    server.close()


@pytest.fixture
def proxy(echo):
    with tcp_proxy.FaultyProxy("127.0.0.1", echo[0]) as running:
        yield running


def _client(proxy, timeout=WAIT):
    return socket.create_connection(("127.0.0.1", proxy.port), timeout)


def _echo(sock, data=b"ping\n"):
    sock.sendall(data)
    return sock.recv(4096)


def test_it_forwards_both_ways(proxy):
    with _client(proxy) as sock:
        assert _echo(sock) == b"ping\n"
        assert _echo(sock, b"x" * 1000) == b"x" * 1000
    assert proxy.accepted == 1


def test_refuse_resets_open_and_new_connections(proxy):
    with _client(proxy) as sock:
        assert _echo(sock) == b"ping\n"
        proxy.cut(tcp_proxy.REFUSE)
        with pytest.raises(ConnectionResetError):
            _echo(sock)
    with pytest.raises((ConnectionResetError, BrokenPipeError)):
        with _client(proxy) as sock:     # reset at once, or at the first
            _echo(sock)                  # exchange


def test_blackhole_answers_nothing_until_the_clients_timeout(proxy, echo):
    with _client(proxy) as held:
        assert _echo(held) == b"ping\n"
        proxy.cut(tcp_proxy.BLACKHOLE)
        held.settimeout(0.3)
        with pytest.raises(socket.timeout):      # open: silent, no reset
            _echo(held)
        with _client(proxy, timeout=0.3) as new:  # accepted, never answered
            with pytest.raises(socket.timeout):
                _echo(new)
    assert proxy.open_connections == 0


def test_blackhole_ends_the_servers_side_only(proxy, echo):
    _port, ended = echo
    with _client(proxy) as sock:
        assert _echo(sock) == b"ping\n"
        proxy.cut(tcp_proxy.BLACKHOLE)
        assert ended[0].wait(WAIT)      # the server saw it go
        sock.settimeout(0.3)
        with pytest.raises(socket.timeout):
            _echo(sock)                 # the client did not


def test_heal_forwards_new_connections_and_drops_the_held_ones(proxy):
    with _client(proxy) as before:
        assert _echo(before) == b"ping\n"
        proxy.cut(tcp_proxy.BLACKHOLE)
        with _client(proxy) as during:
            proxy.heal()
            for held in (before, during):
                with pytest.raises((ConnectionResetError, BrokenPipeError)):
                    _echo(held)
                    raise ConnectionResetError("closed without data")
    with _client(proxy) as after:
        assert _echo(after) == b"ping\n"


def test_an_unknown_fault_is_refused(proxy):
    with pytest.raises(ValueError, match="unknown fault"):
        proxy.cut("flaky")
