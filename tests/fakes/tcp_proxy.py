"""A fault-injecting TCP proxy (stdlib, threads): forwards connections to
a target ``host:port`` until the test cuts it.

``cut("refuse")``
    Every open connection is reset (RST, both sides) and every new one
    is accepted and reset at once: a server that went away, seen as
    ``Connection reset by peer``.
``cut("blackhole")``
    What a network partition looks like to the client: its open
    connections stay open but nothing comes back (what it sends is never
    forwarded), and new connections are accepted and never answered (not
    even the server's greeting). The server's side of every open
    connection is reset (the server noticed: what was in flight is
    rolled back). Only a client with bounded timeouts gets out of it.
``heal()``
    New connections are forwarded again; the connections held during a
    blackhole are reset (their server side is gone).

``with FaultyProxy(host, port) as proxy:`` listens on 127.0.0.1 (a free
port, :attr:`FaultyProxy.port`) until the block ends.
"""

import selectors
import socket
import struct
import threading

FORWARD, REFUSE, BLACKHOLE = "forward", "refuse", "blackhole"
_TICK = 0.05        # seconds a pump waits before it looks at the mode again
_SEND_TIMEOUT = 5.0  # a side that reads nothing for this long is dropped


def _reset(sock):
    """Close ``sock`` with a RST instead of a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class _Pair:
    """One client connection and its connection to the target, pumped by
    one thread."""

    def __init__(self, client, upstream):
        self.client = client
        self.upstream = upstream
        self.frozen = False          # blackholed: nothing is forwarded
        self.closed = False


class FaultyProxy:
    """Forward ``127.0.0.1:port`` to ``target_host:target_port``; the test
    switches faults on (:meth:`cut`) and off (:meth:`heal`)."""

    def __init__(self, target_host, target_port, connect_timeout=5.0):
        self.target = (target_host, target_port)
        self.connect_timeout = connect_timeout
        self.mode = FORWARD
        self.accepted = 0            # connections accepted, all modes
        self._pairs = []
        self._held = []              # accepted during a blackhole
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(_TICK)
        self.port = self._listener.getsockname()[1]
        self._closing = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True,
                                          name="tcp-proxy-accept")]

    # -- the test's side -------------------------------------------------
    def __enter__(self):
        self._threads[0].start()
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False

    def cut(self, mode=BLACKHOLE):
        """Start a fault (``refuse`` or ``blackhole``, module doc); open
        connections are dealt with before this returns."""
        if mode not in (REFUSE, BLACKHOLE):
            raise ValueError(f"unknown fault {mode!r}")
        with self._lock:
            self.mode = mode
            pairs, self._pairs = self._pairs, []
            for pair in pairs:
                if mode == BLACKHOLE:
                    pair.frozen = True
                    _reset(pair.upstream)
                    self._held.append(pair.client)
                else:
                    self._close(pair)

    def heal(self):
        """Forward new connections again; reset the held ones."""
        with self._lock:
            self.mode = FORWARD
            held, self._held = self._held, []
        for sock in held:
            _reset(sock)

    def close(self):
        self._closing.set()
        for thread in self._threads:
            thread.join(timeout=5)
        with self._lock:
            for pair in self._pairs:
                self._close(pair)
            for sock in self._held:
                _reset(sock)
            self._pairs, self._held = [], []
        self._listener.close()

    @property
    def open_connections(self):
        with self._lock:
            return len(self._pairs)

    # -- the threads -----------------------------------------------------
    def _close(self, pair):
        """Reset both sides of ``pair`` (under the lock)."""
        if not pair.closed:
            pair.closed = True
            _reset(pair.client)
            _reset(pair.upstream)

    def _accept(self):
        while not self._closing.is_set():
            try:
                client, _address = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            self._admit(client)

    def _admit(self, client):
        with self._lock:
            mode = self.mode
            if mode == BLACKHOLE:
                self._held.append(client)
                return
        if mode == REFUSE:
            _reset(client)
            return
        try:
            upstream = socket.create_connection(self.target,
                                                self.connect_timeout)
        except OSError:
            _reset(client)
            return
        for sock in (client, upstream):
            sock.settimeout(_SEND_TIMEOUT)
        pair = _Pair(client, upstream)
        with self._lock:
            if self.mode != FORWARD:     # cut while connecting
                self._close(pair)
                return
            self._pairs.append(pair)
        thread = threading.Thread(target=self._pump, args=(pair,),
                                  daemon=True, name="tcp-proxy-pump")
        self._threads.append(thread)
        thread.start()

    def _pump(self, pair):
        """Forward both ways until either side closes or a fault ends the
        pair; a frozen pair forwards nothing more."""
        with selectors.DefaultSelector() as selector:
            selector.register(pair.client, selectors.EVENT_READ,
                              pair.upstream)
            selector.register(pair.upstream, selectors.EVENT_READ,
                              pair.client)
            while not self._closing.is_set():
                with self._lock:
                    if pair.closed or pair.frozen:
                        return
                for key, _events in selector.select(_TICK):
                    if not self._forward(pair, key.fileobj, key.data):
                        return

    def _forward(self, pair, source, sink):
        """Move what ``source`` has to ``sink``; whether the pair lives."""
        with self._lock:
            if pair.closed or pair.frozen:
                return False
            try:
                data = source.recv(65536)
                if data:
                    sink.sendall(data)
                    return True
            except OSError:
                pass
            self._close(pair)
            self._pairs = [p for p in self._pairs if p is not pair]
            return False
