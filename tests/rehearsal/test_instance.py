"""The rehearsal's instance: env files read out of the app template's user data, hook order."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from rehearsal import instance

ROOT = Path(__file__).resolve().parents[2]

VALUES = {
    "AWS::Region": "eu-west-1",
    "Bucket": "b",
    "QueueUrl": "http://q",
    "Table": "t",
    "StopTimeout": "120",
    "SecretName": "s",
    "PolybotLogGroup": "/p",
    "WorkerLogGroup": "/w",
    "PublicUrl": "https://polybot.example",
    "InternalLoadBalancer.DNSName": "internal.example",
    "PolybotPort": "9443",
}


def parse(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines())


def test_polybot_env_is_what_user_data_writes():
    env = parse(instance.user_data_env("polybot", VALUES))
    assert env["AWS_REGION"] == "eu-west-1"
    assert env["JOBS_QUEUE_URL"] == "http://q"
    assert env["TELEGRAM_TOKEN_SECRET_ID"] == "s"
    assert env["PUBLIC_URL"] == "https://polybot.example"
    assert env["POLYBOT_PORT"] == "9443"
    assert not any("${" in v for v in env.values())


def test_yolo5_env_calls_polybot_through_the_internal_load_balancer():
    env = parse(instance.user_data_env("yolo5", VALUES))
    assert env["POLYBOT_RESULTS_URL"] == "http://internal.example/results"
    assert env["IMAGES_BUCKET"] == "b"
    assert env["LOG_GROUP"] == "/w"
    assert env["STOP_TIMEOUT"] == "120"


def test_a_value_user_data_needs_and_the_rehearsal_lacks_is_an_error():
    values = dict(VALUES)
    del values["Table"]
    with pytest.raises(instance.UnknownSubstitution, match="Table"):
        instance.user_data_env("polybot", values)


def test_a_service_without_an_env_file_in_user_data_is_an_error(tmp_path):
    template = tmp_path / "app.yaml"
    template.write_text("UserData: echo nothing\n")
    with pytest.raises(ValueError, match="heredoc"):
        instance.user_data_env("polybot", VALUES, template)


def test_polybot_port_is_read_from_the_app_templates_mappings(tmp_path):
    assert instance.polybot_port() == 8443  # the number, once: app.yaml's Mappings
    template = tmp_path / "app.yaml"
    template.write_text(
        "Mappings:\n  Polybot:\n    Instance:\n      Port: 9000\n"
        "Resources:\n  G:\n    Properties: {Port: !FindInMap [Polybot, Instance, Port]}\n"
    )
    assert instance.polybot_port(template) == 9000


@pytest.mark.parametrize("service", ["polybot", "yolo5"])
def test_hooks_come_in_codedeploy_lifecycle_order(tmp_path, service):
    subprocess.run(
        ["bash", str(ROOT / "appspecs" / "bundle.sh"), service, str(tmp_path / "b")], check=True
    )
    found = instance.hooks(tmp_path / "b")
    assert [h.event for h in found] == list(instance.LIFECYCLE)
    assert all(h.script.is_file() and h.runas == "root" for h in found)


def test_a_hook_for_an_event_codedeploy_has_not_is_refused(tmp_path):
    (tmp_path / "appspec.yml").write_text("hooks:\n  AfterStart:\n    - location: x.sh\n")
    with pytest.raises(ValueError, match="AfterStart"):
        instance.hooks(tmp_path)


@pytest.mark.skipif(os.geteuid() != 0, reason="hooks run as root, as CodeDeploy runs them")
def test_run_hook_passes_the_agents_variables_and_enforces_the_timeout(tmp_path):
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "show.sh").write_text(
        'echo "$LIFECYCLE_EVENT $DEPLOYMENT_ID $APPLICATION_NAME $DEPLOYMENT_GROUP_NAME $PWD"\n'
    )
    (hooks / "slow.sh").write_text("sleep 5\n")
    shown = instance.run_hook(
        instance.Hook("AfterInstall", hooks / "show.sh", 10, "root"), {}, "d-1", "app", "group"
    )
    assert shown.returncode == 0
    assert shown.output.strip() == f"AfterInstall d-1 app group {tmp_path}"
    slow = instance.run_hook(
        instance.Hook("ValidateService", hooks / "slow.sh", 1, "root"), {}, "d-1", "app", "g"
    )
    assert slow.returncode == 124
    assert "timed out after 1s" in slow.output
