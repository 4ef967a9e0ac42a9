"""The appspec hooks run in CodeDeploy's lifecycle order against recording stand-ins."""

from __future__ import annotations

import pytest

from tests.delivery.hook_harness import (
    BLUE_GREEN,
    IN_PLACE,
    PASSWORD,
    REGISTRY,
    make_harness,
)

POLYBOT_IMAGE = f"{REGISTRY}/pipeline/polybot:{'a' * 40}"
YOLO5_IMAGE = f"{REGISTRY}/pipeline/yolo5:{'b' * 40}"


@pytest.fixture
def polybot(tmp_path):
    return make_harness(tmp_path, "polybot", POLYBOT_IMAGE)


@pytest.fixture
def yolo5(tmp_path):
    return make_harness(tmp_path, "yolo5", YOLO5_IMAGE)


def verbs(calls: list[str]) -> list[str]:
    """The first two words of each call: what was done, in order."""
    return [" ".join(c.split()[:2]) for c in calls]


def test_polybot_first_blue_green_deployment(polybot):
    codes = polybot.deploy(BLUE_GREEN)

    assert set(codes.values()) == {0}, codes
    calls = polybot.calls()
    done = verbs(calls)
    assert done[:3] == ["docker inspect", "curl -fsS", "curl -fsS"]  # stop: none; IMDSv2
    # `aws ecr get-login-password | docker login` runs as one pipe: either may log first.
    assert sorted(done[3:5]) == ["aws ecr", "docker login"]
    assert done[5:] == ["docker pull", "docker inspect", "docker run", "curl -fsS"]
    assert "-X PUT" in calls[1] and "X-aws-ec2-metadata-token-ttl-seconds" in calls[1]
    assert "X-aws-ec2-metadata-token: imds-token" in calls[2]
    assert "aws ecr get-login-password --region us-east-1" in calls[3:5]
    assert f"docker login --username AWS --password-stdin {REGISTRY}" in calls[3:5]
    assert (polybot.root / "login.stdin").read_text() == PASSWORD
    assert not any(PASSWORD in c for c in calls)
    assert calls[5] == f"docker pull --quiet {POLYBOT_IMAGE}"
    run = calls[7]
    for part in (
        "--name polybot",
        "--restart unless-stopped",
        f"--env-file {polybot.env['SERVICE_ENV_FILE']}",
        "--publish 8443:8443",
        "--stop-timeout 30",
    ):
        assert part in run
    assert run.endswith(POLYBOT_IMAGE)
    assert "awslogs" not in run  # logs ship once, through the app's watchtower
    assert "--retry-connrefused" in calls[8] and calls[8].endswith("http://127.0.0.1:8443/healthz")
    assert polybot.containers() == ["polybot"]


def test_polybot_rerun_stops_gracefully_then_replaces(polybot):
    polybot.deploy(BLUE_GREEN)
    polybot.reset_calls()

    codes = polybot.deploy(BLUE_GREEN)

    assert set(codes.values()) == {0}, codes
    calls = polybot.calls()
    assert calls[:3] == [
        "docker inspect --type container polybot",
        "docker stop --time 30 polybot",
        "docker rm --force polybot",
    ]
    assert polybot.containers() == ["polybot"]


def test_application_start_twice_leaves_one_container(polybot):
    assert polybot.run("ApplicationStart").returncode == 0
    polybot.reset_calls()

    assert polybot.run("ApplicationStart").returncode == 0

    assert verbs(polybot.calls()) == ["docker inspect", "docker stop", "docker rm", "docker run"]
    assert polybot.containers() == ["polybot"]


def test_polybot_failing_health_check_fails_validate_service(polybot):
    codes = polybot.deploy(BLUE_GREEN, FAKE_HEALTHZ="down")

    assert codes["ValidateService"] != 0
    result = polybot.run("ValidateService", FAKE_HEALTHZ="down")
    assert "never became healthy" in result.stderr
    assert "d-TEST12345" in result.stderr  # the log names the deployment


def test_polybot_validate_service_checks_the_version_is_the_deployed_commit(polybot):
    polybot.deploy(BLUE_GREEN[:4])

    good = polybot.run("ValidateService")
    other = polybot.run("ValidateService", FAKE_VERSION="c" * 40)
    unknown = polybot.run("ValidateService", FAKE_VERSION="unknown")

    assert good.returncode == 0, good.stderr
    assert f"runs {'a' * 40}" in good.stderr
    assert other.returncode != 0
    assert f"runs version '{'c' * 40}', not {'a' * 40}" in other.stderr
    assert unknown.returncode != 0 and "version 'unknown'" in unknown.stderr


def test_yolo5_in_place_deployment_and_rerun(yolo5):
    codes = yolo5.deploy(IN_PLACE)
    assert set(codes.values()) == {0}, codes
    run = next(c for c in yolo5.calls() if c.startswith("docker run"))
    assert "--restart unless-stopped" in run and "--publish" not in run
    assert run.endswith(YOLO5_IMAGE)
    assert yolo5.calls()[-1] == (
        "docker inspect --type container --format {{.State.Health.Status}} yolo5"
    )
    yolo5.reset_calls()

    codes = yolo5.deploy(IN_PLACE)

    assert set(codes.values()) == {0}, codes
    # The worker gets two minutes to finish its job before SIGKILL.
    assert yolo5.calls()[1] == "docker stop --time 120 yolo5"
    assert yolo5.containers() == ["yolo5"]


def test_yolo5_unhealthy_fails_validate_service_after_its_attempts(yolo5):
    codes = yolo5.deploy(IN_PLACE, FAKE_HEALTH="unhealthy")

    assert codes["ValidateService"] != 0
    health_checks = [c for c in yolo5.calls() if "--format" in c]
    assert len(health_checks) == 3


def test_a_floating_tag_is_refused(tmp_path):
    harness = make_harness(tmp_path, "polybot", f"{REGISTRY}/pipeline/polybot:latest")

    result = harness.run("BeforeInstall")

    assert result.returncode != 0
    assert "floating tag" in result.stderr
    assert not any(c.startswith("docker") for c in harness.calls())


def test_missing_runtime_config_fails_application_start(polybot):
    result = polybot.run("ApplicationStart", SERVICE_ENV_FILE="/nonexistent/polybot.env")

    assert result.returncode != 0
    assert "/nonexistent/polybot.env" in result.stderr
    assert polybot.containers() == []
