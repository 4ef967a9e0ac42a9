"""One number for how long a stopping worker gets: the data stack's JobVisibilityTimeout.

It reaches the instance's env file as STOP_TIMEOUT (cloudformation/app.yaml), from where the
deploy hooks read it (appspecs/shared/hooks/lib.sh), and the drain before an Auto Scaling
termination uses the same value; the hook and lifecycle timeouts allow for it.
"""

from __future__ import annotations

import re

import pytest
import yaml

from tests.cloudformation.templates import TEMPLATE_DIR, load
from tests.delivery.hook_harness import IN_PLACE, REGISTRY, ROOT, make_harness

YOLO5_IMAGE = f"{REGISTRY}/pipeline/yolo5:{'c' * 40}"


@pytest.fixture(scope="module")
def data() -> dict:
    return load(TEMPLATE_DIR / "data.yaml")


@pytest.fixture(scope="module")
def app() -> dict:
    return load(TEMPLATE_DIR / "app.yaml")


def worker_user_data(app: dict) -> tuple[str, dict]:
    sub = app["Resources"]["WorkerLaunchTemplate"]["Properties"]["LaunchTemplateData"]["UserData"]
    text, values = sub["Fn::Base64"]["Fn::Sub"]
    return text, values


def test_the_visibility_timeout_is_exported_for_the_app_stack(data):
    output = data["Outputs"]["JobVisibilityTimeout"]
    assert output["Value"] == {"Ref": "JobVisibilityTimeout"}
    assert output["Export"]["Name"] == {"Fn::Sub": "${AWS::StackName}-JobVisibilityTimeout"}


def test_the_env_file_and_the_drain_take_the_stop_timeout_from_it(app):
    text, values = worker_user_data(app)
    assert values["StopTimeout"] == {
        "Fn::ImportValue": {"Fn::Sub": "${DataStackName}-JobVisibilityTimeout"}
    }
    env_file = re.search(r"cat > /etc/polybot/yolo5\.env <<'ENV'\n(.*?)\nENV\n", text, re.S)
    assert env_file and "STOP_TIMEOUT=${StopTimeout}" in env_file.group(1).splitlines()
    stops = re.findall(r"docker stop[^\n]*", text)
    assert stops == ["docker stop --time ${StopTimeout}"]


def test_the_hooks_and_the_lifecycle_hook_allow_for_the_longest_stop(app, data):
    longest = data["Parameters"]["JobVisibilityTimeout"]["MaxValue"]
    spec = yaml.safe_load((ROOT / "appspecs" / "yolo5" / "appspec.yml").read_text())
    # ApplicationStop stops the worker; ApplicationStart first stops one a failed try left.
    assert spec["hooks"]["ApplicationStop"][0]["timeout"] > longest
    assert spec["hooks"]["ApplicationStart"][0]["timeout"] > longest + 120
    drain = app["Parameters"]["WorkerDrainSeconds"]
    assert drain["Default"] >= data["Parameters"]["JobVisibilityTimeout"]["Default"] + 60


def test_the_hooks_stop_the_worker_with_the_env_files_stop_timeout(tmp_path):
    yolo5 = make_harness(tmp_path, "yolo5", YOLO5_IMAGE)
    env_file = tmp_path / "yolo5.env"
    env_file.write_text("STOP_TIMEOUT=345\nAWS_REGION=us-east-1\n")
    assert set(yolo5.deploy(IN_PLACE).values()) == {0}
    run = next(c for c in yolo5.calls() if c.startswith("docker run"))
    assert "--stop-timeout 345" in run
    yolo5.reset_calls()

    assert yolo5.run("ApplicationStop").returncode == 0
    assert "docker stop --time 345 yolo5" in yolo5.calls()


def test_a_malformed_stop_timeout_in_the_env_file_is_ignored(tmp_path):
    yolo5 = make_harness(tmp_path, "yolo5", YOLO5_IMAGE)
    (tmp_path / "yolo5.env").write_text("STOP_TIMEOUT=$(reboot)\n")
    assert set(yolo5.deploy(IN_PLACE).values()) == {0}
    run = next(c for c in yolo5.calls() if c.startswith("docker run"))
    assert "--stop-timeout 120" in run  # settings.sh's default


def test_a_malformed_stop_timeout_after_a_good_one_does_not_replace_it(tmp_path):
    yolo5 = make_harness(tmp_path, "yolo5", YOLO5_IMAGE)
    (tmp_path / "yolo5.env").write_text("STOP_TIMEOUT=345\nSTOP_TIMEOUT=oops\n")
    assert set(yolo5.deploy(IN_PLACE).values()) == {0}
    run = next(c for c in yolo5.calls() if c.startswith("docker run"))
    assert "--stop-timeout 345" in run
