"""certificate.sh makes a certificate for any ALB name, however long, and imports it into ACM.

The script runs for real (openssl included) against a recording stand-in for `aws` that keeps
a copy of the certificate handed to `acm import-certificate`. X.509 caps a CN at 64
characters; the ALB's DNS name belongs in the subjectAltName, which has no such limit.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cloudformation.recording_aws import calls, install, run_script

CERTIFICATE_ARN = "arn:aws:acm:ap-southeast-2:123456789012:certificate/0000-test"

# A stand-in `aws`: records each call as a JSON list and answers what certificate.sh asks.
FAKE_AWS = """if command == "cloudformation describe-stacks":
    query = arg("--query")
    if "PublicLoadBalancerDnsName" in query:
        print(os.environ["FAKE_ALB_DNS"])
    elif "WebhookUrl" in query:
        print("https://" + os.environ["FAKE_ALB_DNS"] + "/webhook")
    else:
        print("None")  # no CertificateArn yet: a first import
elif command == "acm import-certificate":
    shutil.copyfile(arg("--certificate").removeprefix("fileb://"), state / "imported.pem")
    print({arn!r})
elif command == "ssm send-command":
    print("command-id")
"""


@pytest.fixture
def fake_aws(tmp_path, monkeypatch):
    return install(FAKE_AWS, tmp_path, monkeypatch, arn=CERTIFICATE_ARN)


def run_certificate(*args: str) -> subprocess.CompletedProcess[str]:
    return run_script("certificate.sh", *args, unset={"PREFIX", "AWS_REGION", "CERT_DAYS"})


def cn_and_san_names(pem: Path) -> tuple[str, list[str]]:
    result = subprocess.run(
        ["openssl", "x509", "-noout", "-subject", "-ext", "subjectAltName", "-in", str(pem)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    subject, san = result.stdout.split("Subject Alternative Name", 1)
    [cn] = re.findall(r"CN\s*=\s*([^,/\n]+)", subject)
    return cn.strip(), re.findall(r"DNS:([^,\s]+)", san)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="certificate.sh needs openssl")
@pytest.mark.parametrize(
    ("prefix", "region"),
    [
        ("polybot", "us-east-1"),
        # The longest prefix deploy.sh allows (20) in a long region: the name has 71 characters.
        ("abcdefghijklmnopqrst", "ap-southeast-2"),
    ],
)
def test_the_alb_name_goes_in_the_san_and_the_cn_stays_short(fake_aws, monkeypatch, prefix, region):
    dns = f"{prefix}-public-1234567890.{region}.elb.amazonaws.com"
    monkeypatch.setenv("FAKE_ALB_DNS", dns)

    result = run_certificate("--prefix", prefix, "--region", region)

    assert result.returncode == 0, result.stderr
    cn, san_names = cn_and_san_names(fake_aws / "imported.pem")
    assert 0 < len(cn) <= 64, cn
    assert san_names == [dns]
    # The certificate carried on through the rest of the script.
    log = calls(fake_aws)
    [deploy] = [c for c in log if c[:2] == ["cloudformation", "deploy"]]
    assert f"CertificateArn={CERTIFICATE_ARN}" in deploy
    assert any(c[:2] == ["ssm", "put-parameter"] for c in log)
