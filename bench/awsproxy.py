"""A proxy in front of the moto server that counts every AWS request and can delay it.

Against loopback moto an AWS call costs only CPU, so every thread that overlaps I/O with the
model looks like pure overhead. On AWS each call waits for the network and the service: that
wait is what the worker's concurrency overlaps. The proxy puts the wait back, per service, and
counts what arrives per operation, request by request (retries included), so "AWS calls per
photo" is a count, not an estimate.

The delays used by `make bench` (AWS_LIKE_MS) are in-region round trips for small requests:
S3 GET and PUT 20 ms, SQS and DynamoDB 5 ms. They are the figures the speed issue gives; they sit
between DynamoDB's "single-digit millisecond" latency and S3's "100–200 milliseconds" first-byte
latency for small objects that the S3 performance guidelines quote as what an application should
expect (AWS docs: "Amazon DynamoDB features", "Performance guidelines for Amazon S3").
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import psutil

AWS_LIKE_MS = {"s3": 20.0, "sqs": 5.0, "dynamodb": 5.0}
RESULTS_LIKE_MS = 5.0  # polybot's /results in the same VPC; applied by the results stub

_SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}
_S3_OBJECT = {
    "GET": "GetObject",
    "PUT": "PutObject",
    "HEAD": "HeadObject",
    "DELETE": "DeleteObject",
}
_S3_BUCKET = {
    "GET": "ListObjects",
    "PUT": "CreateBucket",
    "HEAD": "HeadBucket",
    "DELETE": "DeleteBucket",
}


def operation_of(method: str, path: str, headers, body: bytes) -> tuple[str, str]:
    """(service, operation) of a signed AWS request: the JSON protocols name the operation in
    X-Amz-Target, the query protocol in Action=, and S3 (path-style) its verb on a bucket or
    an object."""
    scope = _SCOPE.search(headers.get("Authorization", ""))
    service = scope.group(1) if scope else "unsigned"
    target = headers.get("X-Amz-Target")
    if target:
        return service, target.rsplit(".", 1)[-1]
    if service == "s3":
        on_object = "/" in urlsplit(path).path.strip("/")
        return service, (_S3_OBJECT if on_object else _S3_BUCKET).get(method, method)
    action = parse_qs(body.decode("latin-1")).get("Action", [method])[0]
    return service, action


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects
    # Headers and body go out in separate writes: with Nagle's algorithm on, the body waits
    # for the client's delayed ACK (tens of ms), a latency AWS does not add.
    disable_nagle_algorithm = True
    server: _ProxyServer

    def log_message(self, *args) -> None:  # one line per request would drown the bench output
        return

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        service, operation = operation_of(self.command, self.path, self.headers, body)
        self.server.record(f"{service}.{operation}", self.client_address[1])
        delay = self.server.delays_ms.get(service, 0.0)
        if delay:
            time.sleep(delay / 1000)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        upstream = self.server.connection()
        try:
            upstream.request(self.command, self.path, body=body or None, headers=headers)
            response = upstream.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            self.server.drop_connection()
            self.send_error(502, "upstream unreachable")
            return
        self.send_response(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str, delays_ms: dict[str, float], by_process) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.by_process = by_process  # None, or pid -> label: counts are then per label
        self._owners: dict[int, str] = {}  # client port -> label of the process it belongs to
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname, parts.port)
        self.delays_ms = dict(delays_ms)
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._local = threading.local()  # one upstream connection per handler thread

    def record(self, operation: str, client_port: int) -> None:
        if self.by_process is not None:
            operation = f"{self._owner(client_port)}: {operation}"
        with self._lock:
            self.counts[operation] += 1

    def take_counts(self) -> Counter[str]:
        """The counts since the last call; the next window starts empty."""
        with self._lock:
            counts, self.counts = self.counts, Counter()
        return counts

    def _owner(self, port: int) -> str:
        """The label of the local process that holds this client port (keep-alive connections
        keep their port, so the socket table is read once per new connection)."""
        if port not in self._owners:
            for connection in psutil.net_connections(kind="tcp"):
                if connection.laddr and connection.pid and connection.laddr.port == port:
                    self._owners[port] = self.by_process(connection.pid)
                    break
            else:
                return "unknown"
        return self._owners[port]

    def connection(self) -> http.client.HTTPConnection:
        if getattr(self._local, "connection", None) is None:
            connection = http.client.HTTPConnection(*self.upstream, timeout=60)
            connection.connect()
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._local.connection = connection
        return self._local.connection

    def drop_connection(self) -> None:
        connection, self._local.connection = getattr(self._local, "connection", None), None
        if connection is not None:
            connection.close()


class AwsProxy:
    """`with aws_proxy(moto_url, AWS_LIKE_MS) as proxy:` point clients at proxy.url; read
    proxy.take_counts() for the requests since the last call."""

    def __init__(self, server: _ProxyServer) -> None:
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_port}"

    def take_counts(self) -> Counter[str]:
        return self._server.take_counts()


@contextmanager
def aws_proxy(
    upstream: str, delays_ms: dict[str, float] | None = None, by_process=None
) -> Iterator[AwsProxy]:
    """by_process: pid -> label, to count per client process ("polybot: s3.PutObject")."""
    server = _ProxyServer(upstream, delays_ms or {}, by_process)
    thread = threading.Thread(target=server.serve_forever, name="aws-proxy", daemon=True)
    thread.start()
    try:
        yield AwsProxy(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
