"""Fixture chain for the delivery tests: moto (with the CodeDeploy calls it lacks) -> clients."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from tests.conftest import REGION
from tests.delivery import moto_codedeploy


@pytest.fixture
def aws(monkeypatch):
    """In-process moto for every service the delivery code calls; yields named clients."""
    moto_codedeploy.install(monkeypatch)
    with mock_aws():
        yield {
            name: boto3.client(name, region_name=REGION)
            for name in ("codedeploy", "ec2", "elbv2", "s3", "ssm")
        }
