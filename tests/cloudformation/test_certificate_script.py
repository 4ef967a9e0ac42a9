"""certificate.sh makes a certificate for any ALB name, however long, and imports it into ACM.

The script runs for real (openssl included) against a recording stand-in for `aws` that keeps
a copy of the certificate handed to `acm import-certificate`. X.509 caps a CN at 64
characters; the ALB's DNS name belongs in the subjectAltName, which has no such limit.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cloudformation.templates import TEMPLATE_DIR

CERTIFICATE_ARN = "arn:aws:acm:ap-southeast-2:123456789012:certificate/0000-test"

# A stand-in `aws`: records each call as a JSON list and answers what certificate.sh asks.
FAKE_AWS = """#!{python}
import json, os, shutil, sys
from pathlib import Path
args = sys.argv[1:]
state = Path(os.environ["FAKE_AWS_DIR"])
with open(state / "calls.jsonl", "a") as log:
    log.write(json.dumps(args) + "\\n")
def arg(name):
    return args[args.index(name) + 1] if name in args else ""
command = " ".join(args[:2])
if command == "cloudformation describe-stacks":
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
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "aws"
    script.write_text(FAKE_AWS.format(python=sys.executable, arn=CERTIFICATE_ARN))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_AWS_DIR", str(tmp_path))
    return tmp_path


def run_certificate(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PREFIX", "AWS_REGION", "CERT_DAYS"}}
    return subprocess.run(
        ["bash", str(TEMPLATE_DIR / "certificate.sh"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def calls(state: Path) -> list[list[str]]:
    return [json.loads(line) for line in (state / "calls.jsonl").read_text().splitlines()]


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
