"""A TCP proxy a test can break: pass traffic, refuse connections, or stall them.

It sits between a service and the moto server (the service's AWS_ENDPOINT_URL points at it),
so "AWS is unreachable" is a real network condition for the unmodified service:
- REFUSE closes the listening socket: new connections get ECONNREFUSED.
- STALL accepts connections and never answers, until the mode changes.
Switching away from PASS also cuts every open connection, so pooled keep-alive connections
can't carry on as if nothing happened.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

PASS, REFUSE, STALL = "pass", "refuse", "stall"


class FaultyProxy:
    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.target_port = target_port
        self.mode = PASS
        self.port = 0
        self.accepted = 0  # connections accepted in any mode, for the test's report
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._closed = threading.Event()
        self._listen()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def set_mode(self, mode: str) -> None:
        with self._lock:
            self.mode = mode
            doomed = list(self._open)
            self._open.clear()
        for sock in doomed:
            _close(sock)
        if mode == REFUSE:
            self._stop_listening()
        elif self._listener is None:
            self._listen()

    def close(self) -> None:
        self._closed.set()
        self.set_mode(REFUSE)

    # -- internals -----------------------------------------------------------------------
    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))  # port 0 the first time, the same one after
        listener.listen(128)
        listener.settimeout(0.2)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept_loop, args=(listener,), daemon=True).start()

    def _stop_listening(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            _close(listener)

    def _accept_loop(self, listener: socket.socket) -> None:
        while self._listener is listener and not self._closed.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # the listener was closed (REFUSE)
            self.accepted += 1
            with self._lock:
                self._open.add(client)
                mode = self.mode
            if mode == PASS:
                threading.Thread(target=self._connect, args=(client,), daemon=True).start()
            # STALL: keep the socket open and unread; set_mode() closes it later.

    def _connect(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection((self.host, self.target_port), timeout=5)
        except OSError:
            self._drop(client)
            return
        upstream.settimeout(None)
        with self._lock:
            if client not in self._open:  # the mode changed meanwhile
                _close(upstream)
                return
            self._open.add(upstream)
        for src, dst in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        self._drop(src)
        self._drop(dst)

    def _drop(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
        _close(sock)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


@contextmanager
def faulty_proxy(target_port: int) -> Iterator[FaultyProxy]:
    proxy = FaultyProxy(target_port)
    try:
        yield proxy
    finally:
        proxy.close()
