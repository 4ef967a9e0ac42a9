"""Loopback servers and waits shared by local mode, the tests and the benchmarks."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import requests
from werkzeug.serving import make_server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve_wsgi(app, host: str = "127.0.0.1", ssl_context=None) -> Iterator[str]:
    """Serve a WSGI app over real HTTP (HTTPS with an ssl_context) in a thread; yields its URL."""
    server = make_server(host, 0, app, threaded=True, ssl_context=ssl_context)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if ssl_context is not None else "http"
    try:
        yield f"{scheme}://{host}:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def wait_for_http(url: str, timeout: float, what: str) -> None:
    """Poll until the URL answers below 500, or raise TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{what} did not answer at {url} within {timeout:.0f} s")
