"""The deploy bucket (cloudformation/lib.sh): made by the real AWS CLI against a moto server.

deploy.sh and certificate.sh upload every template there (`cloudformation deploy
--s3-bucket`), and deploy.sh --delete removes it (test_deploy_script.py's teardown tests).
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.cloudformation.templates import TEMPLATE_DIR, MotoStacks, unique_prefix


def ensure_deploy_bucket(prefix: str, region: str) -> subprocess.CompletedProcess[str]:
    """lib.sh's ensure_deploy_bucket, as the scripts call it after their options."""
    script = (
        f'source "{TEMPLATE_DIR / "lib.sh"}"; prefix={prefix}; region={region}; use_region; '
        'ensure_deploy_bucket; echo "$deploy_bucket"'
    )
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_the_deploy_bucket_is_private_encrypted_tls_only_and_in_the_region(real_aws_cli, region):
    stacks = MotoStacks(real_aws_cli, prefix=unique_prefix(), region=region)
    s3 = stacks.client("s3")

    result = ensure_deploy_bucket(stacks.prefix, region)

    assert result.returncode == 0, result.stderr
    bucket = f"{stacks.prefix}-deploy-123456789012-{region}"
    assert result.stdout.strip() == bucket
    assert (s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] or "us-east-1") == region
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    [rule] = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    [statement] = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Principal"] == "*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Resource"] == [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    tags = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    assert tags == [{"Key": "Project", "Value": stacks.prefix}]

    # A second run finds it and changes nothing.
    again = ensure_deploy_bucket(stacks.prefix, region)
    assert again.returncode == 0, again.stderr
    assert "creating the deploy bucket" not in again.stderr
