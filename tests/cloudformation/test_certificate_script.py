"""certificate.sh makes a certificate for the app stack's ALB, imports it into ACM and wires it in.

The script runs for real, openssl and the real AWS CLI included, against a moto server that
holds network, data and app stacks made from our templates. The tests read the outcome back
from moto: the certificate in ACM, the PEM in SSM, the app stack's HTTPS listener, the command
sent to the polybot fleet. X.509 caps a CN at 64 characters; the ALB's DNS name belongs in the
subjectAltName, which has no such limit.

Not run against moto:
- An ALB name over 64 characters: moto names an ALB `<name>-1.<region>.elb.amazonaws.com`
  (62 characters at most with the longest prefix and region), AWS `<name>-<10 digits>...`
  (71). That case runs against the recording stand-in for `aws`, which hands the script the
  long name.
- A renewal (a second run) ends in a `cloudformation deploy` with nothing to change. AWS makes
  that a FAILED change set, which --no-fail-on-empty-changeset accepts; moto 5.2.5 refuses the
  CreateChangeSet call itself ("ValidationError ... No updates are to be performed."), so the
  CLI exits 255 there.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from tests.cloudformation.recording_aws import calls, install
from tests.cloudformation.scripts import run_script
from tests.cloudformation.templates import MotoStacks

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def run_certificate(*args: str) -> subprocess.CompletedProcess[str]:
    return run_script("certificate.sh", *args, unset={"PREFIX", "AWS_REGION", "CERT_DAYS"})


def prefix_of(length: int) -> str:
    """A prefix no other test uses, `length` characters long (deploy.sh allows up to 20)."""
    return ("t" + uuid.uuid4().hex * 2)[:length]


def app_stack_in_moto(endpoint: str, prefix: str, region: str) -> MotoStacks:
    """What deploy.sh leaves before certificate.sh runs: network, data, app, no certificate."""
    stacks = MotoStacks(endpoint, prefix=prefix, region=region)
    stacks.deploy("network", "network.yaml")
    stacks.deploy("data", "data.yaml")
    # certificate.sh updates the app stack through a change set (see spell_out_defaults).
    stacks.deploy("app", "app.yaml", spell_out_defaults=True, **stacks.app_parameters())
    return stacks


def without_tls_only_policy_deploy_bucket(stacks: MotoStacks) -> str:
    """The deploy bucket as deploy.sh leaves it, minus its TLS-only policy.

    moto 5.2.5 evaluates a bucket policy's Deny without its Condition (it has no request
    context for aws:SecureTransport), so with the policy it refuses the template upload that
    AWS accepts over HTTPS. test_deploy_bucket.py checks the bucket the real CLI makes.
    """
    bucket = f"{stacks.prefix}-deploy-123456789012-{stacks.region}"
    s3 = stacks.client("s3")
    location = {}
    if stacks.region != "us-east-1":
        location = {"CreateBucketConfiguration": {"LocationConstraint": stacks.region}}
    s3.create_bucket(Bucket=bucket, **location)
    return bucket


def certificates_tagged(acm, prefix: str) -> list[str]:
    arns = [c["CertificateArn"] for c in acm.list_certificates()["CertificateSummaryList"]]
    return [
        arn
        for arn in arns
        if {"Key": "Project", "Value": prefix}
        in acm.list_tags_for_certificate(CertificateArn=arn).get("Tags", [])
    ]


@pytest.mark.slow  # ~25 s: three stacks into moto, then the CLI's change-set waiters
@pytest.mark.parametrize(
    ("prefix_length", "region", "days"),
    [
        (11, "us-east-1", None),
        # The longest prefix deploy.sh allows, in another region, with --days.
        (20, "ap-southeast-2", 30),
    ],
)
def test_imports_a_certificate_for_the_alb_and_gives_it_to_the_app_stack(
    real_aws_cli, prefix_length, region, days
):
    prefix = prefix_of(prefix_length)
    stacks = app_stack_in_moto(real_aws_cli, prefix, region)
    bucket = without_tls_only_policy_deploy_bucket(stacks)
    dns = stacks.outputs("app")["PublicLoadBalancerDnsName"]
    assert "HttpsListenerArn" not in stacks.outputs("app")

    days_args = ["--days", str(days)] if days else []
    result = run_certificate("--prefix", prefix, "--region", region, *days_args)

    assert result.returncode == 0, result.stderr
    app = stacks.cloudformation.describe_stacks(StackName=stacks.stack_name("app"))["Stacks"][0]
    assert app["StackStatus"] == "UPDATE_COMPLETE"
    [arn] = [
        p["ParameterValue"] for p in app["Parameters"] if p["ParameterKey"] == "CertificateArn"
    ]
    # The stack's certificate is the one certificate.sh imported, into the region asked for.
    acm = stacks.client("acm")
    assert certificates_tagged(acm, prefix) == [arn]
    assert arn.startswith(f"arn:aws:acm:{region}:")
    cert = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    assert cert["Type"] == "IMPORTED"
    assert cert["SubjectAlternativeNames"] == [dns]
    assert 0 < len(cert["DomainName"]) <= 64  # the CN
    assert cert["NotAfter"] - cert["NotBefore"] == timedelta(days=days or 365)
    tags = acm.list_tags_for_certificate(CertificateArn=arn)["Tags"]
    assert {t["Key"]: t["Value"] for t in tags} == {
        "Project": prefix,
        "ManagedBy": "certificate.sh",
    }
    # polybot reads the public PEM from SSM for set_webhook(certificate=...).
    pem = acm.get_certificate(CertificateArn=arn)["Certificate"]
    parameter = stacks.client("ssm").get_parameter(Name=f"/{prefix}/webhook-certificate")
    assert parameter["Parameter"]["Type"] == "String"
    assert parameter["Parameter"]["Value"].strip() == pem.strip()
    # The update created the HTTPS listener with that certificate.
    listener_arn = stacks.outputs("app")["HttpsListenerArn"]
    [listener] = stacks.client("elbv2").describe_listeners(ListenerArns=[listener_arn])["Listeners"]
    assert (listener["Port"], listener["Protocol"]) == (443, "HTTPS")
    assert listener["Certificates"] == [{"CertificateArn": arn}]
    # The polybot instances of this deployment were told to fetch the PEM.
    commands = stacks.client("ssm").list_commands()["Commands"]
    [command] = [c for c in commands if c["Comment"] == f"{prefix}: refresh webhook certificate"]
    assert command["DocumentName"] == "AWS-RunShellScript"
    assert command["Parameters"] == {"commands": ["systemctl start polybot-webhook-cert.service"]}
    assert command["Targets"] == [
        {"Key": "tag:Service", "Values": ["polybot"]},
        {"Key": "tag:Project", "Values": [prefix]},
    ]
    assert stacks.outputs("app")["WebhookUrl"] in result.stderr
    # The template went through the deploy bucket; the update kept the stack's tags.
    assert app["Tags"] == [{"Key": "Project", "Value": prefix}]
    assert stacks.client("s3").list_objects_v2(Bucket=bucket, Prefix="templates/")["KeyCount"] == 1


def test_without_the_app_stack_it_stops_before_making_anything(real_aws_cli):
    prefix = prefix_of(11)
    stacks = MotoStacks(real_aws_cli, prefix=prefix)

    result = run_certificate("--prefix", prefix)

    assert result.returncode != 0
    assert f"stack {prefix}-app not found: run cloudformation/deploy.sh first" in result.stderr
    assert certificates_tagged(stacks.client("acm"), prefix) == []
    parameters = stacks.client("ssm").describe_parameters()["Parameters"]
    assert not [p for p in parameters if p["Name"].startswith(f"/{prefix}/")]


# The long-name case, on the recording stand-in (see the module docstring for why): it
# answers what certificate.sh asks and keeps a copy of the certificate it imports.
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
elif command == "sts get-caller-identity":
    print("123456789012")
"""  # s3api head-bucket answers 0: the deploy bucket is there
CERTIFICATE_ARN = "arn:aws:acm:ap-southeast-2:123456789012:certificate/0000-test"


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


def test_an_alb_name_over_64_characters_goes_in_the_san_and_the_cn_stays_short(
    tmp_path, monkeypatch
):
    state = install(FAKE_AWS, tmp_path, monkeypatch, arn=CERTIFICATE_ARN)
    # The longest prefix deploy.sh allows (20) in a long region, named as AWS names an ALB.
    prefix, region = "abcdefghijklmnopqrst", "ap-southeast-2"
    dns = f"{prefix}-public-1234567890.{region}.elb.amazonaws.com"
    assert len(dns) > 64
    monkeypatch.setenv("FAKE_ALB_DNS", dns)

    result = run_certificate("--prefix", prefix, "--region", region)

    assert result.returncode == 0, result.stderr
    cn, san_names = cn_and_san_names(state / "imported.pem")
    assert 0 < len(cn) <= 64, cn
    assert san_names == [dns]
    # The certificate carried on through the rest of the script.
    log = calls(state)
    [deploy] = [c for c in log if c[:2] == ["cloudformation", "deploy"]]
    assert f"CertificateArn={CERTIFICATE_ARN}" in deploy
    # Through the deploy bucket, with the stack's tags (without --tags the CLI clears them).
    assert deploy[deploy.index("--s3-bucket") + 1] == f"{prefix}-deploy-123456789012-{region}"
    assert deploy[deploy.index("--tags") + 1] == f"Project={prefix}"
    for command in re.findall(r"\baws [a-z0-9-]+ [a-z0-9-]+[^\n]*", result.stderr):
        assert f"--region {region}" in command, command
    assert any(c[:2] == ["ssm", "put-parameter"] for c in log)
