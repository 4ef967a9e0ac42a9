"""Fixtures shared by every suite: AWS credentials for moto, and a moto server over HTTP."""

from __future__ import annotations

import pytest
from moto.server import ThreadedMotoServer

from tests.support.servers import free_port

REGION = "us-east-1"


@pytest.fixture(autouse=True)
def fake_aws_credentials(monkeypatch):
    """Never let a test reach a real AWS account, whatever the developer's shell has."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)


@pytest.fixture(scope="session")
def moto_server():
    """A moto server on a free port, shared by the session; yields its endpoint URL.

    Tests must create uniquely named resources (or call `reset_moto`) so they do not see
    each other's state.
    """
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
