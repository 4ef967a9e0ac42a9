"""The rehearsal's stand-in for the instance metadata service answers as IMDSv2 does."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from rehearsal import machine


def call(url: str, method: str = "GET", headers=None) -> str:
    request = urllib.request.Request(url, method=method, headers=headers or {})  # noqa: S310
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        return response.read().decode()


def test_the_region_is_given_only_with_a_session_token():
    with machine.imds("eu-central-1") as url:
        token = call(
            f"{url}/latest/api/token", "PUT", {"X-aws-ec2-metadata-token-ttl-seconds": "300"}
        )
        region = call(
            f"{url}/latest/meta-data/placement/region",
            headers={"X-aws-ec2-metadata-token": token},
        )
        assert region == "eu-central-1"
        with pytest.raises(urllib.error.HTTPError) as refused:
            call(f"{url}/latest/meta-data/placement/region")
        assert refused.value.code == 401


def test_a_token_request_without_a_ttl_is_refused():
    with machine.imds("us-east-1") as url, pytest.raises(urllib.error.HTTPError) as refused:
        call(f"{url}/latest/api/token", "PUT")
    assert refused.value.code == 400
