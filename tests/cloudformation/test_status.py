"""deploy.sh --status: will the demo work? Read-only, one screen, exit 0 only when it will.

The stacks are made from our templates in a moto server, and the real AWS CLI reads them,
the instances, target health, the worker group, its hooks, the queues, the secret and the
release bundles there. The Telegram Bot API emulator answers getWebhookInfo. CodePipeline
and CodeDeploy's deployment history, which moto does not serve as --status asks, come from
the recording stand-in (deploy_fake.py), which hands every other call to the real CLI.
"""

from __future__ import annotations

import io
import json
import sys
import zipfile

import pytest
import requests

from tests.cloudformation.deploy_fake import install_fake_aws
from tests.cloudformation.recording_aws import calls
from tests.cloudformation.scripts import AWS_CLI, run_script
from tests.cloudformation.templates import MotoStacks
from tests.cloudformation.test_deploy_script import self_signed_pem
from tests.support.emulator import running_emulator

FORWARDED = (
    "cloudformation sts ec2 elbv2 autoscaling sqs secretsmanager s3 s3api sns cloudwatch acm"
)
POLYBOT_COMMIT = "1a2b3c4d5e6f7081920a1b2c3d4e5f6071829304"
WORKER_COMMIT = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432"


def pipeline_in_moto(prefix: str) -> str:
    """The pipeline stack's outputs --status reads; moto cannot create pipeline.yaml (see
    test_deploy_script.PIPELINE_IN_MOTO)."""
    outputs = {
        "PipelineName": f"{prefix}-pipeline",
        "PolybotDeploymentGroup": f"{prefix}-pipeline-polybot/{prefix}-pipeline-polybot-bluegreen",
        "Yolo5ApplicationName": f"{prefix}-pipeline-yolo5",
        "Yolo5DeploymentGroup": f"{prefix}-pipeline-yolo5-inplace",
    }
    return json.dumps(
        {
            "Resources": {"Bundles": {"Type": "AWS::S3::Bucket"}},
            "Outputs": {
                "ArtifactBucketName": {"Value": {"Ref": "Bundles"}},
                **{k: {"Value": v} for k, v in outputs.items()},
            },
        }
    )


def bundle(commit: str) -> bytes:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("image.env", f"IMAGE_URI=123456789012.dkr.ecr/x:{commit}\n")
    return data.getvalue()


@pytest.fixture
def deployment(real_aws_cli, tmp_path, monkeypatch):
    """A deployment that will work: what --status should pass."""
    stacks = MotoStacks(real_aws_cli)
    prefix = stacks.prefix
    acm = stacks.client("acm")
    cert, key = self_signed_pem()
    certificate = acm.import_certificate(Certificate=cert, PrivateKey=key)["CertificateArn"]
    out = stacks.deploy_all(certificate_arn=certificate)
    stacks.cloudformation.create_stack(
        StackName=stacks.stack_name("pipeline"), TemplateBody=pipeline_in_moto(prefix)
    )
    bucket = stacks.outputs("pipeline")["ArtifactBucketName"]
    s3 = stacks.client("s3")
    s3.put_object(Bucket=bucket, Key="polybot.zip", Body=bundle(POLYBOT_COMMIT))
    s3.put_object(Bucket=bucket, Key="yolo5.zip", Body=bundle(WORKER_COMMIT))

    # The blue fleet serves (moto ignores a target group's Targets, so they are registered here).
    ec2, elbv2 = stacks.client("ec2"), stacks.client("elbv2")
    blue = [
        i["InstanceId"]
        for r in ec2.describe_instances(
            Filters=[
                {"Name": "tag:Project", "Values": [prefix]},
                {"Name": "tag:Fleet", "Values": ["blue"]},
            ]
        )["Reservations"]
        for i in r["Instances"]
    ]
    assert len(blue) == 2
    elbv2.register_targets(
        TargetGroupArn=out["app"]["PublicTargetGroupArn"], Targets=[{"Id": i} for i in blue]
    )
    # CodeDeploy's launch hook, as its first deployment to the group leaves it.
    group = out["app"]["WorkerAutoScalingGroupName"]
    stacks.client("autoscaling").put_lifecycle_hook(
        LifecycleHookName=f"CodeDeploy-managed-automatic-launch-deployment-hook-{prefix}-1",
        AutoScalingGroupName=group,
        LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING",
    )
    # The secret (moto skips AWS::SecretsManager::Secret) with the emulator's bot token.
    emulator = stack_emulator(monkeypatch)
    stacks.client("secretsmanager").create_secret(
        Name=out["data"]["BotTokenSecretName"],
        SecretString=json.dumps({"TELEGRAM_TOKEN": emulator.token, "WEBHOOK_SECRET": "w" * 48}),
    )
    set_webhook(emulator, out["app"]["WebhookUrl"])

    state = install_fake_aws(tmp_path, monkeypatch)
    monkeypatch.setenv("REAL_AWS_CLI", str(AWS_CLI))
    (state / "forward").write_text(FORWARDED)
    (state / "pipeline-run").write_text(f"Succeeded\t{POLYBOT_COMMIT}\n")
    (state / "pipeline-stages").write_text(
        "Source:Succeeded\tTest:Succeeded\tBuild:Succeeded\tDeploy:Succeeded\n"
    )
    (state / f"deployments-{prefix}-pipeline-polybot-bluegreen").write_text("d-POLY1\n")
    (state / f"deployments-{prefix}-pipeline-yolo5-inplace").write_text("d-YOLO1\n")
    (state / "deployment-d-POLY1").write_text(
        f"1700000000.0\tpolybot to blue (first release)\t{bucket}\tpolybot.zip\n"
    )
    (state / "deployment-d-YOLO1").write_text(f"1700000100.0\t-\t{bucket}\tyolo5.zip\n")
    shim = state / "bin" / "python3"
    shim.write_text(
        f'#!/bin/sh\nprintf \'%s\\n\' "$*" >> {state / "python-argv"}\nexec {sys.executable} "$@"\n'
    )
    shim.chmod(0o755)
    return {"stacks": stacks, "out": out, "state": state, "emulator": emulator, "group": group}


_emulators: list = []


def stack_emulator(monkeypatch):
    """The emulator, as Telegram for --status (TELEGRAM_API_URL, polybot's own setting)."""
    context = running_emulator()
    handle = context.__enter__()
    _emulators.append(context)
    monkeypatch.setenv("TELEGRAM_API_URL", handle.base_url)
    return handle


@pytest.fixture(autouse=True)
def _stop_emulators():
    yield
    while _emulators:
        _emulators.pop().__exit__(None, None, None)


def set_webhook(emulator, url: str) -> None:
    response = requests.post(
        f"{emulator.base_url}/bot{emulator.token}/setWebhook",
        data={"url": url, "secret_token": "w" * 48},
        timeout=10,
    )
    response.raise_for_status()


def status(prefix: str):
    return run_script(
        "deploy.sh", "--status", "--prefix", prefix, "--region", "us-east-1", unset={"PREFIX"}
    )


def lines(result, mark: str) -> list[str]:
    return [line.strip() for line in result.stdout.splitlines() if line.strip().startswith(mark)]


@pytest.mark.slow  # ~40 s: five stacks into moto, then some thirty CLI calls
def test_a_deployment_that_will_work_reports_ready_and_exits_0(deployment):
    prefix = deployment["stacks"].prefix
    result = status(prefix)

    assert result.returncode == 0, result.stdout + result.stderr
    assert lines(result, "FAIL") == []
    assert "ready for the demo" in result.stdout
    text = result.stdout
    for kind in ("network", "data", "app", "observability", "pipeline"):
        assert f"ok    stack {prefix}-{kind}: CREATE_COMPLETE" in text
    assert f"ok    webhook: {deployment['out']['app']['WebhookUrl']}" in text
    assert "ok    serving fleet: blue (2 healthy)" in text
    assert f"blue runs {POLYBOT_COMMIT[:7]}" in text
    assert "green runs nothing yet" in text
    assert f"workers run {WORKER_COMMIT[:7]}" in text
    assert "info  jobs queue: 0 waiting" in text
    assert "ok    workers: 1 in service of 1 desired (max 2)" in text
    assert "ok    launch hook" in text
    assert "ok    dead-letter queue: empty" in text
    assert f"ok    last pipeline run: Succeeded (commit {POLYBOT_COMMIT[:7]}" in text
    assert "dashboards/dashboard/" + f"{prefix}-overview" in text
    # Read-only, and the token never in an argv or the output.
    writes = [
        c
        for c in calls(deployment["state"])
        if c[1].split("-")[0] in ("put", "create", "delete", "send", "update", "deploy")
    ]
    assert writes == []
    token = deployment["emulator"].token
    assert token not in (deployment["state"] / "calls.jsonl").read_text()
    assert token not in (deployment["state"] / "python-argv").read_text()
    assert token not in result.stdout + result.stderr


@pytest.mark.slow
def test_each_thing_that_would_break_the_demo_is_a_fail_line_and_exit_1(deployment):
    stacks, out = deployment["stacks"], deployment["out"]
    sqs = stacks.client("sqs")
    sqs.send_message(QueueUrl=out["data"]["DeadLetterQueueUrl"], MessageBody="{}")
    autoscaling = stacks.client("autoscaling")
    [hook] = [
        h["LifecycleHookName"]
        for h in autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=deployment["group"])[
            "LifecycleHooks"
        ]
        if h["LifecycleHookName"].startswith("CodeDeploy")
    ]
    autoscaling.delete_lifecycle_hook(
        LifecycleHookName=hook, AutoScalingGroupName=deployment["group"]
    )
    set_webhook(deployment["emulator"], "https://elsewhere.example.com/telegram/webhook")
    (deployment["state"] / "pipeline-run").write_text(f"Failed\t{POLYBOT_COMMIT}\n")

    result = status(stacks.prefix)

    assert result.returncode == 1
    failed = " | ".join(lines(result, "FAIL"))
    assert "dead-letter queue: 1 job(s)" in failed
    assert "launch hook: CodeDeploy's is missing" in failed
    assert "webhook: Telegram has 'https://elsewhere.example.com/telegram/webhook'" in failed
    assert "last pipeline run: Failed" in failed
    assert len(lines(result, "FAIL")) == 4
    assert "not ready" in result.stdout
