"""The polybot fleet switch against moto (CodeDeploy, ELBv2, EC2, S3, SSM)."""

from __future__ import annotations

import io
import uuid
import zipfile
from pathlib import Path

import pytest
from moto.elbv2.models import FakeHealthStatus, FakeTargetGroup

from delivery import deployment_group
from delivery.fleet_switch import Settings, main, switch
from delivery.fleets import SwitchError
from tests.delivery.moto_codedeploy import set_status

PROJECT = "polybot-test"


@pytest.fixture
def bundle(tmp_path) -> Path:
    root = tmp_path / "bundle"
    (root / "hooks").mkdir(parents=True)
    (root / "appspec.yml").write_text("version: 0.0\nos: linux\n")
    hook = root / "hooks" / "start_container.sh"
    hook.write_text("#!/usr/bin/env bash\n")
    hook.chmod(0o755)
    (root / "image.env").write_text("IMAGE_URI=1.dkr.ecr.us-east-1.amazonaws.com/p:abc\n")
    return root


@pytest.fixture
def stack(aws, bundle):
    """What the app and pipeline stacks leave behind: two tagged fleets, a target group,
    the blue/green deployment group and the artifact bucket."""
    suffix = uuid.uuid4().hex[:8]
    ec2, elbv2 = aws["ec2"], aws["elbv2"]
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]
    tg = elbv2.create_target_group(
        Name=f"pub-{suffix}", Protocol="HTTP", Port=8443, VpcId=vpc["VpcId"], TargetType="instance"
    )["TargetGroups"][0]["TargetGroupArn"]
    fleets = {}
    for fleet in ("blue", "green"):
        tags = [
            {"Key": "Fleet", "Value": fleet},
            {"Key": "Service", "Value": "polybot"},
            {"Key": "Project", "Value": PROJECT},
        ]
        reply = ec2.run_instances(
            ImageId="ami-12c6146b",
            MinCount=2,
            MaxCount=2,
            InstanceType="t3.micro",
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
        )
        fleets[fleet] = sorted(i["InstanceId"] for i in reply["Instances"])
    app = f"polybot-{suffix}"
    aws["codedeploy"].create_application(applicationName=app, computePlatform="Server")
    deployment_group.create(
        aws["codedeploy"],
        {
            "ApplicationName": app,
            "DeploymentGroupName": "bg",
            "ServiceRoleArn": "arn:aws:iam::123456789012:role/codedeploy",
            "TargetGroupNames": [f"pub-{suffix}"],
            "FleetTagKey": "Fleet",
            "OriginalFleet": "blue",
            "ProjectTag": PROJECT,
            "ServiceTag": "polybot",
        },
    )
    # Another deployment in the same account and region (another prefix), same fleet names.
    foreign = {}
    for fleet in ("blue", "green"):
        tags = [
            {"Key": "Fleet", "Value": fleet},
            {"Key": "Service", "Value": "polybot"},
            {"Key": "Project", "Value": "someone-else"},
        ]
        reply = ec2.run_instances(
            ImageId="ami-12c6146b",
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.micro",
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
        )
        foreign[fleet] = [i["InstanceId"] for i in reply["Instances"]]
    bucket = f"artifacts-{suffix}"
    aws["s3"].create_bucket(Bucket=bucket)
    env = {
        "AWS_REGION": "us-east-1",
        "CODEDEPLOY_APPLICATION": app,
        "CODEDEPLOY_DEPLOYMENT_GROUP": "bg",
        "PUBLIC_TARGET_GROUP_ARN": tg,
        "PROJECT_TAG": PROJECT,
        "BUNDLE_DIR": str(bundle),
        "REVISION_BUCKET": bucket,
        "REVISION_KEY": "revisions/polybot/abc-1.zip",
        "POLL_SECONDS": "1",
        "DEPLOY_TIMEOUT_SECONDS": "60",
    }
    return {
        "tg": tg,
        "fleets": fleets,
        "foreign": foreign,
        "app": app,
        "bucket": bucket,
        "env": env,
    }


def register(aws, stack, fleet: str) -> None:
    targets = [{"Id": i, "Port": 8443} for i in stack["fleets"][fleet]]
    aws["elbv2"].register_targets(TargetGroupArn=stack["tg"], Targets=targets)


def finishing(status: str):
    """A sleep that plays CodeDeploy: the deployment ends with `status` at the first wait."""
    calls = []

    def sleep(seconds):
        calls.append(seconds)
        if len(calls) == 1:
            (deployment_id,) = FINISH.pop()
            set_status(deployment_id, status)

    return sleep


FINISH: list = []


@pytest.fixture
def run(aws, stack, monkeypatch):
    """Run the switch; the deployment it creates finishes with the given status."""

    def go(status: str = "Succeeded", **env):
        settings = Settings.from_env({**stack["env"], **env})
        real_create = aws["codedeploy"].create_deployment

        def create_deployment(**kwargs):
            reply = real_create(**kwargs)
            FINISH.append((reply["deploymentId"],))
            return reply

        monkeypatch.setattr(aws["codedeploy"], "create_deployment", create_deployment)
        return switch(settings, aws, sleep=finishing(status))

    return go


def deployment(aws, deployment_id: str) -> dict:
    return aws["codedeploy"].get_deployment(deploymentId=deployment_id)["deploymentInfo"]


def matches(tags: dict[str, str], tag_filter: dict) -> bool:
    return tags.get(tag_filter["Key"]) == tag_filter["Value"]


def selected(aws, tag_filters: list | None = None, tag_set: dict | None = None) -> set[str]:
    """The instances CodeDeploy takes in, by the API Reference: the entries of a tag-filter list
    are ORed ("instances with any of the specified tags"); an EC2TagSet takes an instance only
    when every one of its tag groups matches ("EC2TagSet")."""
    groups = (tag_set or {}).get("ec2TagSetList") or []
    chosen = set()
    for reservation in aws["ec2"].describe_instances()["Reservations"]:
        for instance in reservation["Instances"]:
            tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
            if any(matches(tags, f) for f in tag_filters or []) or (
                groups and all(any(matches(tags, f) for f in group) for group in groups)
            ):
                chosen.add(instance["InstanceId"])
    return chosen


def targets(aws, deployment_id: str) -> set[str]:
    wanted = deployment(aws, deployment_id)["targetInstances"]
    return selected(aws, wanted.get("tagFilters"), wanted.get("ec2TagSet"))


def originals(aws, stack) -> set[str]:
    info = aws["codedeploy"].get_deployment_group(
        applicationName=stack["app"], deploymentGroupName="bg"
    )["deploymentGroupInfo"]
    return selected(aws, info.get("ec2TagFilters"), info.get("ec2TagSet"))


def fleet_of(stack, instances: set[str]) -> str:
    """Which of this stack's fleets the instances are, exactly (nothing more, nothing less)."""
    for fleet, ids in stack["fleets"].items():
        if set(ids) == instances:
            return fleet
    return f"not one fleet of this stack: {sorted(instances)}"


def target_fleet(aws, stack, deployment_id: str) -> str:
    return fleet_of(stack, targets(aws, deployment_id))


def original_fleet(aws, stack) -> str:
    return fleet_of(stack, originals(aws, stack))


@pytest.fixture
def webhook_commands(aws, monkeypatch) -> list[dict]:
    """The SSM commands sent (moto lists extra instances on a command, so record the call)."""
    sent = []
    real_send = aws["ssm"].send_command

    def send_command(**kwargs):
        sent.append(kwargs)
        return real_send(**kwargs)

    monkeypatch.setattr(aws["ssm"], "send_command", send_command)
    return sent


def test_nothing_registered_deploys_to_blue(aws, stack, run, capsys):
    deployment_id = run()

    assert target_fleet(aws, stack, deployment_id) == "blue"
    assert original_fleet(aws, stack) == "green"
    assert "codedeploy/deployments/" + deployment_id in capsys.readouterr().out


def test_blue_registered_but_not_healthy_yet_deploys_to_green(aws, stack, run, monkeypatch):
    # First pipeline run on a fresh stack: blue is registered, but nothing runs on it yet.
    healthy = FakeTargetGroup.health_for

    def unhealthy(self, target, ec2_backend):
        status = healthy(self, target, ec2_backend)
        if status.status == "healthy":
            status.status = "unhealthy"
        return status

    monkeypatch.setattr(FakeTargetGroup, "health_for", unhealthy)
    register(aws, stack, "blue")

    deployment_id = run()

    assert target_fleet(aws, stack, deployment_id) == "green"
    assert original_fleet(aws, stack) == "blue"


def test_a_target_group_no_listener_uses_yet_is_refused_before_anything_changes(
    aws, stack, run, monkeypatch
):
    # A release before certificate.sh: the public target group has no listener, so ELB reports
    # every registered target `unused` / Target.NotInUse (API Reference, "TargetHealth").
    real = FakeTargetGroup.health_for

    def not_in_use(self, target, ec2_backend):
        if target["Id"] not in self.targets:
            return real(self, target, ec2_backend)
        return FakeHealthStatus(
            target["Id"],
            target.get("Port", self.port),
            self.health_check_port,
            "unused",
            "Target.NotInUse",
            "Target group is not configured to receive traffic from the load balancer",
        )

    monkeypatch.setattr(FakeTargetGroup, "health_for", not_in_use)
    register(aws, stack, "blue")
    before = originals(aws, stack)

    with pytest.raises(SwitchError, match=r"cloudformation/certificate\.sh") as refusal:
        run()

    assert "not used by any listener" in str(refusal.value)
    assert stack["fleets"]["blue"][0] in str(refusal.value)
    listed = aws["codedeploy"].list_deployments(
        applicationName=stack["app"], deploymentGroupName="bg"
    )
    assert listed["deployments"] == []
    assert originals(aws, stack) == before  # the group still names blue as original
    assert "Contents" not in aws["s3"].list_objects_v2(Bucket=stack["bucket"])


def test_a_stopped_registered_instance_is_not_taken_for_a_missing_listener(aws, stack, run):
    # A stopped target is `unused` too, with reason Target.InvalidState: the other blue
    # instance still serves, so the release goes to green as usual.
    register(aws, stack, "blue")
    aws["ec2"].stop_instances(InstanceIds=[stack["fleets"]["blue"][1]])

    deployment_id = run()

    assert target_fleet(aws, stack, deployment_id) == "green"
    assert original_fleet(aws, stack) == "blue"


def test_blue_serving_deploys_to_green_and_registers_the_webhook_there(
    aws, stack, run, webhook_commands
):
    register(aws, stack, "blue")

    deployment_id = run()

    assert target_fleet(aws, stack, deployment_id) == "green"
    assert original_fleet(aws, stack) == "blue"
    revision = deployment(aws, deployment_id)["revision"]["s3Location"]
    assert revision["bucket"] == stack["bucket"]
    assert revision["key"] == "revisions/polybot/abc-1.zip"
    assert revision["bundleType"] == "zip"
    (command,) = webhook_commands
    assert command["InstanceIds"] == [stack["fleets"]["green"][0]]
    assert command["Parameters"]["commands"] == [
        "docker exec polybot python -m polybot.register_webhook"
    ]


def test_green_serving_deploys_to_blue(aws, stack, run):
    register(aws, stack, "green")

    deployment_id = run()

    assert target_fleet(aws, stack, deployment_id) == "blue"
    assert original_fleet(aws, stack) == "green"


def test_another_stacks_instances_of_the_same_fleet_are_never_taken_in(aws, stack, run):
    # Same Fleet and Service tags, another Project: a tag-filter list (ORed) would take them in.
    register(aws, stack, "blue")

    deployment_id = run()

    chosen = targets(aws, deployment_id) | originals(aws, stack)
    assert not chosen & {*stack["foreign"]["blue"], *stack["foreign"]["green"]}
    assert targets(aws, deployment_id) == set(stack["fleets"]["green"])
    assert originals(aws, stack) == set(stack["fleets"]["blue"])


def test_a_group_left_with_tag_filters_by_an_older_release_gets_a_tag_set(aws, stack, run):
    aws["codedeploy"].update_deployment_group(
        applicationName=stack["app"],
        currentDeploymentGroupName="bg",
        ec2TagFilters=[{"Key": "Fleet", "Value": "blue", "Type": "KEY_AND_VALUE"}],
    )
    register(aws, stack, "green")

    run()

    info = aws["codedeploy"].get_deployment_group(
        applicationName=stack["app"], deploymentGroupName="bg"
    )["deploymentGroupInfo"]
    assert info["ec2TagFilters"] == []
    assert original_fleet(aws, stack) == "green"


def test_bundle_is_uploaded_with_appspec_at_root_and_executable_hooks(aws, stack, run):
    run()

    body = aws["s3"].get_object(Bucket=stack["bucket"], Key="revisions/polybot/abc-1.zip")["Body"]
    with zipfile.ZipFile(io.BytesIO(body.read())) as bundle:
        names = set(bundle.namelist())
        mode = bundle.getinfo("hooks/start_container.sh").external_attr >> 16
    assert {"appspec.yml", "image.env", "hooks/start_container.sh"} <= names
    assert mode & 0o111


def test_failed_deployment_fails_the_switch_without_webhook(aws, stack, run, webhook_commands):
    register(aws, stack, "blue")

    with pytest.raises(SwitchError, match="Failed") as failure:
        run("Failed")

    assert "blue serving" in str(failure.value)
    assert webhook_commands == []


def test_a_deployment_that_never_ends_times_out(aws, stack, run):
    with pytest.raises(SwitchError, match="still InProgress"):
        run("InProgress", DEPLOY_TIMEOUT_SECONDS="60", POLL_SECONDS="30")


def test_a_stopped_instance_in_the_target_fleet_is_refused(aws, stack, run):
    register(aws, stack, "blue")
    stopped = stack["fleets"]["green"][1]
    aws["ec2"].stop_instances(InstanceIds=[stopped])

    with pytest.raises(SwitchError, match=stopped) as refusal:
        run()

    assert "start-instances" in str(refusal.value)
    listed = aws["codedeploy"].list_deployments(
        applicationName=stack["app"], deploymentGroupName="bg"
    )
    assert listed["deployments"] == []


def test_both_fleets_serving_is_refused(aws, stack, run):
    register(aws, stack, "blue")
    register(aws, stack, "green")

    with pytest.raises(SwitchError, match="both fleets"):
        run()


def test_a_running_deployment_is_not_overtaken(aws, stack, run):
    first = aws["codedeploy"].create_deployment(
        applicationName=stack["app"],
        deploymentGroupName="bg",
        revision={"revisionType": "S3", "s3Location": {"bucket": "b", "key": "k"}},
    )["deploymentId"]

    with pytest.raises(SwitchError, match=first):
        run()


def test_main_exits_non_zero_with_the_reason(aws, stack, capsys):
    stopped = stack["fleets"]["blue"][0]
    aws["ec2"].stop_instances(InstanceIds=[stopped])

    assert main(stack["env"]) == 1

    assert stopped in capsys.readouterr().err


def test_main_reports_missing_settings(capsys):
    assert main({"AWS_REGION": "us-east-1"}) == 1

    assert "CODEDEPLOY_APPLICATION is required" in capsys.readouterr().err


def test_main_refuses_to_run_without_the_project_tag(aws, stack, capsys):
    # Without it the fleets would be every stack's Service=polybot instances.
    env = {k: v for k, v in stack["env"].items() if k != "PROJECT_TAG"}
    register(aws, stack, "blue")

    assert main(env) == 1

    assert "PROJECT_TAG is required" in capsys.readouterr().err
    listed = aws["codedeploy"].list_deployments(
        applicationName=stack["app"], deploymentGroupName="bg"
    )["deployments"]
    assert listed == []
    assert originals(aws, stack) == set(stack["fleets"]["blue"])


def test_the_switch_names_a_fleet_as_the_deployment_group_resource_does(aws, stack, run):
    register(aws, stack, "blue")

    deployment_id = run()

    made_by_the_resource = deployment_group.fleet_tag_set("Fleet", "green", PROJECT, "polybot")
    assert deployment(aws, deployment_id)["targetInstances"]["ec2TagSet"] == made_by_the_resource
