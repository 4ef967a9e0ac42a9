"""Fixtures for running the deploy scripts against the real AWS CLI."""

from __future__ import annotations

import pytest

from tests.cloudformation.scripts import use_real_aws_cli


@pytest.fixture
def real_aws_cli(moto_server, tmp_path, monkeypatch) -> str:
    """The scripts' `aws` is the real CLI, talking to the session's moto server (its URL)."""
    use_real_aws_cli(monkeypatch, moto_server, tmp_path)
    return moto_server
