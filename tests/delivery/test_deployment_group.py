"""The blue/green deployment-group custom resource against moto, answering a real HTTP server."""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError

from delivery import deployment_group
from tests.support.servers import serve_wsgi

ROLE = "arn:aws:iam::123456789012:role/codedeploy"
PROJECT = "polybot-test"


def fleet_set(fleet: str, project: str = PROJECT) -> dict:
    """The tag set naming one fleet of this stack: three groups, each of which must match."""
    return {
        "ec2TagSetList": [
            [{"Key": "Fleet", "Value": fleet, "Type": "KEY_AND_VALUE"}],
            [{"Key": "Project", "Value": project, "Type": "KEY_AND_VALUE"}],
            [{"Key": "Service", "Value": "polybot", "Type": "KEY_AND_VALUE"}],
        ]
    }


@pytest.fixture
def cfn_endpoint():
    """A stand-in for CloudFormation's pre-signed ResponseURL; records every PUT."""
    received = []

    def app(environ, start_response):
        size = int(environ.get("CONTENT_LENGTH") or 0)
        received.append((environ["REQUEST_METHOD"], json.loads(environ["wsgi.input"].read(size))))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b""]

    with serve_wsgi(app) as base:
        yield base, received


@pytest.fixture
def app_name(aws):
    name = f"polybot-{uuid.uuid4().hex[:8]}"
    aws["codedeploy"].create_application(applicationName=name, computePlatform="Server")
    return name


def props(app_name: str, group: str = "polybot-bg", **overrides) -> dict:
    base = {
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:x",
        "ApplicationName": app_name,
        "DeploymentGroupName": group,
        "ServiceRoleArn": ROLE,
        "TargetGroupNames": ["public-tg", "internal-tg"],
        "FleetTagKey": "Fleet",
        "OriginalFleet": "blue",
        "ProjectTag": PROJECT,
        "ServiceTag": "polybot",
    }
    return {**base, **overrides}


def no_wait(seconds):
    raise AssertionError(f"unexpected wait of {seconds}s")


def send(
    cfn_endpoint,
    aws,
    request: str,
    properties: dict,
    physical_id: str | None = None,
    sleep=no_wait,
):
    base, received = cfn_endpoint
    event = {
        "RequestType": request,
        "ResponseURL": f"{base}/cfn-response",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/pipeline/1",
        "RequestId": str(uuid.uuid4()),
        "LogicalResourceId": "PolybotDeploymentGroup",
        "ResourceType": "Custom::BlueGreenDeploymentGroup",
        "ResourceProperties": properties,
    }
    if physical_id:
        event["PhysicalResourceId"] = physical_id
    deployment_group.handler(event, None, client=aws["codedeploy"], sleep=sleep)
    assert len(received) == 1, "exactly one answer per request"
    method, body = received.pop()
    assert method == "PUT"
    assert body["RequestId"] == event["RequestId"]
    assert body["LogicalResourceId"] == "PolybotDeploymentGroup"
    return body


def get_group(aws, app_name: str, group: str) -> dict:
    return aws["codedeploy"].get_deployment_group(
        applicationName=app_name, deploymentGroupName=group
    )["deploymentGroupInfo"]


def test_create_makes_a_blue_green_group_over_both_target_groups(aws, app_name, cfn_endpoint):
    body = send(cfn_endpoint, aws, "Create", props(app_name))

    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == f"{app_name}/polybot-bg"
    assert body["Data"] == {"DeploymentGroupName": "polybot-bg"}
    info = get_group(aws, app_name, "polybot-bg")
    assert info["deploymentStyle"] == {
        "deploymentType": "BLUE_GREEN",
        "deploymentOption": "WITH_TRAFFIC_CONTROL",
    }
    bg = info["blueGreenDeploymentConfiguration"]
    assert bg["greenFleetProvisioningOption"] == {"action": "DISCOVER_EXISTING"}
    assert bg["terminateBlueInstancesOnDeploymentSuccess"] == {"action": "KEEP_ALIVE"}
    assert bg["deploymentReadyOption"] == {"actionOnTimeout": "CONTINUE_DEPLOYMENT"}
    assert info["loadBalancerInfo"]["targetGroupInfoList"] == [
        {"name": "public-tg"},
        {"name": "internal-tg"},
    ]
    assert info["autoRollbackConfiguration"]["enabled"] is True
    assert "DEPLOYMENT_FAILURE" in info["autoRollbackConfiguration"]["events"]


def test_create_names_the_original_fleet_of_this_stack_only(aws, app_name, cfn_endpoint):
    # Fleet=blue alone (or ORed with the other tags) would take in any stack's blue instances.
    body = send(cfn_endpoint, aws, "Create", props(app_name))

    assert body["Status"] == "SUCCESS", body["Reason"]
    info = get_group(aws, app_name, "polybot-bg")
    assert info["ec2TagSet"] == fleet_set("blue")
    assert info["ec2TagFilters"] == []


def test_update_changes_settings_but_keeps_the_fleet_the_switch_chose(aws, app_name, cfn_endpoint):
    physical = send(cfn_endpoint, aws, "Create", props(app_name))["PhysicalResourceId"]
    # The fleet switch has since moved the original environment to green.
    aws["codedeploy"].update_deployment_group(
        applicationName=app_name,
        currentDeploymentGroupName="polybot-bg",
        ec2TagSet=fleet_set("green"),
    )

    body = send(
        cfn_endpoint, aws, "Update", props(app_name, TargetGroupNames=["only-tg"]), physical
    )

    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == physical
    info = get_group(aws, app_name, "polybot-bg")
    assert info["loadBalancerInfo"]["targetGroupInfoList"] == [{"name": "only-tg"}]
    assert info["ec2TagSet"] == fleet_set("green")


def test_update_moves_a_group_with_old_tag_filters_to_a_tag_set(aws, app_name, cfn_endpoint):
    # A group made (and switched to green) by the release before tag sets.
    aws["codedeploy"].create_deployment_group(
        applicationName=app_name,
        deploymentGroupName="polybot-bg",
        serviceRoleArn=ROLE,
        ec2TagFilters=[{"Key": "Fleet", "Value": "green", "Type": "KEY_AND_VALUE"}],
    )

    body = send(cfn_endpoint, aws, "Update", props(app_name), f"{app_name}/polybot-bg")

    assert body["Status"] == "SUCCESS", body["Reason"]
    info = get_group(aws, app_name, "polybot-bg")
    assert info["ec2TagSet"] == fleet_set("green")
    assert info["ec2TagFilters"] == []


def test_update_of_a_group_without_tags_names_the_original_fleet(aws, app_name, cfn_endpoint):
    physical = send(cfn_endpoint, aws, "Create", props(app_name))["PhysicalResourceId"]
    aws["codedeploy"].update_deployment_group(
        applicationName=app_name, currentDeploymentGroupName="polybot-bg"
    )  # removes every tag

    body = send(cfn_endpoint, aws, "Update", props(app_name, ProjectTag="renamed"), physical)

    assert body["Status"] == "SUCCESS", body["Reason"]
    assert get_group(aws, app_name, "polybot-bg")["ec2TagSet"] == fleet_set("blue", "renamed")


def test_the_stand_in_follows_the_documented_tag_rules(aws, app_name, cfn_endpoint):
    """UpdateDeploymentGroup: a tag field left out removes the tags; filters and set never mix."""
    send(cfn_endpoint, aws, "Create", props(app_name))
    codedeploy = aws["codedeploy"]

    with pytest.raises(ClientError, match="InvalidEC2TagCombinationException"):
        codedeploy.update_deployment_group(
            applicationName=app_name,
            currentDeploymentGroupName="polybot-bg",
            ec2TagFilters=[],
            ec2TagSet=fleet_set("green"),
        )
    codedeploy.update_deployment_group(
        applicationName=app_name, currentDeploymentGroupName="polybot-bg", serviceRoleArn=ROLE
    )
    info = get_group(aws, app_name, "polybot-bg")
    assert info["ec2TagSet"] == {}
    assert info["deploymentStyle"]["deploymentType"] == "BLUE_GREEN"  # other fields stay


def role_error(operation: str) -> ClientError:
    error = {"Code": "InvalidRoleException", "Message": "role not assumable (yet)"}
    return ClientError({"Error": error}, operation)


def failing(aws, monkeypatch, method: str, errors: list[ClientError]) -> list:
    """Make the client's `method` raise the given errors first, then reach moto; returns calls."""
    client, calls = aws["codedeploy"], []
    real = getattr(client, method)

    def call(**kwargs):
        calls.append(kwargs)
        if errors:
            raise errors.pop(0)
        return real(**kwargs)

    monkeypatch.setattr(client, method, call)
    return calls


def test_create_outlasts_a_service_role_that_is_not_visible_yet(
    aws, app_name, cfn_endpoint, monkeypatch
):
    errors = [role_error("CreateDeploymentGroup"), role_error("CreateDeploymentGroup")]
    calls = failing(aws, monkeypatch, "create_deployment_group", errors)
    waits = []

    body = send(cfn_endpoint, aws, "Create", props(app_name), sleep=waits.append)

    assert body["Status"] == "SUCCESS", body["Reason"]
    assert len(calls) == 3
    assert waits == [2.0, 4.0]
    assert get_group(aws, app_name, "polybot-bg")["ec2TagSet"] == fleet_set("blue")


def test_create_gives_up_on_the_role_after_a_bounded_wait(aws, app_name, cfn_endpoint, monkeypatch):
    errors = [role_error("CreateDeploymentGroup") for _ in range(10)]
    calls = failing(aws, monkeypatch, "create_deployment_group", errors)
    waits = []

    body = send(cfn_endpoint, aws, "Create", props(app_name), sleep=waits.append)

    assert body["Status"] == "FAILED"
    assert "InvalidRoleException" in body["Reason"]
    assert len(calls) == deployment_group.ROLE_ATTEMPTS == 6
    assert waits == [2.0, 4.0, 8.0, 16.0, 16.0]
    assert sum(waits) < 60  # the function's timeout is 120 s (pipeline.yaml)


def test_other_errors_are_not_retried(aws, app_name, cfn_endpoint, monkeypatch):
    error = {"Code": "InvalidEC2TagException", "Message": "bad tag"}
    calls = failing(
        aws, monkeypatch, "create_deployment_group", [ClientError({"Error": error}, "Create")]
    )

    body = send(cfn_endpoint, aws, "Create", props(app_name))  # no_wait: any wait fails

    assert body["Status"] == "FAILED"
    assert "InvalidEC2TagException" in body["Reason"]
    assert len(calls) == 1


def test_update_outlasts_a_service_role_that_is_not_visible_yet(
    aws, app_name, cfn_endpoint, monkeypatch
):
    physical = send(cfn_endpoint, aws, "Create", props(app_name))["PhysicalResourceId"]
    calls = failing(
        aws, monkeypatch, "update_deployment_group", [role_error("UpdateDeploymentGroup")]
    )
    waits = []

    body = send(
        cfn_endpoint,
        aws,
        "Update",
        props(app_name, ServiceRoleArn=ROLE + "-new"),
        physical,
        sleep=waits.append,
    )

    assert body["Status"] == "SUCCESS", body["Reason"]
    assert len(calls) == 2
    assert waits == [2.0]
    assert get_group(aws, app_name, "polybot-bg")["serviceRoleArn"] == ROLE + "-new"


def test_update_with_a_new_name_creates_a_new_group(aws, app_name, cfn_endpoint):
    physical = send(cfn_endpoint, aws, "Create", props(app_name))["PhysicalResourceId"]

    body = send(cfn_endpoint, aws, "Update", props(app_name, group="polybot-bg2"), physical)

    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == f"{app_name}/polybot-bg2"
    assert get_group(aws, app_name, "polybot-bg2")["deploymentGroupName"] == "polybot-bg2"


def test_delete_removes_the_group_and_a_second_delete_still_succeeds(aws, app_name, cfn_endpoint):
    physical = send(cfn_endpoint, aws, "Create", props(app_name))["PhysicalResourceId"]

    first = send(cfn_endpoint, aws, "Delete", props(app_name), physical)
    second = send(cfn_endpoint, aws, "Delete", props(app_name), physical)

    assert first["Status"] == second["Status"] == "SUCCESS"
    groups = aws["codedeploy"].list_deployment_groups(applicationName=app_name)
    assert groups["deploymentGroups"] == []


def test_failed_create_answers_failed_and_its_delete_is_a_no_op(aws, app_name, cfn_endpoint):
    broken = props(app_name)
    del broken["ServiceRoleArn"]

    body = send(cfn_endpoint, aws, "Create", broken)

    assert body["Status"] == "FAILED"
    assert "ServiceRoleArn" in body["Reason"]
    assert "/" not in body["PhysicalResourceId"]
    cleanup = send(cfn_endpoint, aws, "Delete", broken, body["PhysicalResourceId"])
    assert cleanup["Status"] == "SUCCESS"


def test_an_aws_error_is_reported_to_cloudformation(aws, cfn_endpoint):
    body = send(cfn_endpoint, aws, "Create", props("no-such-application"))

    assert body["Status"] == "FAILED"
    assert "ApplicationDoesNotExist" in body["Reason"]


def test_no_target_group_is_refused(aws, app_name, cfn_endpoint):
    body = send(cfn_endpoint, aws, "Create", props(app_name, TargetGroupNames=[]))

    assert body["Status"] == "FAILED"
    assert "TargetGroupNames" in body["Reason"]


@pytest.mark.parametrize("missing", ["ProjectTag", "ServiceTag"])
def test_a_group_is_never_named_without_the_stack_tags(aws, app_name, cfn_endpoint, missing):
    # Fleet=blue alone would take in every stack's blue instances.
    body = send(cfn_endpoint, aws, "Create", props(app_name, **{missing: ""}))

    assert body["Status"] == "FAILED"
    assert missing.removesuffix("Tag") in body["Reason"]
    groups = aws["codedeploy"].list_deployment_groups(applicationName=app_name)
    assert groups["deploymentGroups"] == []


def test_unknown_request_type_is_answered(aws, app_name, cfn_endpoint):
    body = send(cfn_endpoint, aws, "Resize", props(app_name))

    assert body["Status"] == "FAILED"
    assert "Resize" in body["Reason"]
