"""The blue/green deployment-group custom resource against moto, answering a real HTTP server."""

from __future__ import annotations

import json
import uuid

import pytest

from delivery import deployment_group
from tests.support.servers import serve_wsgi

ROLE = "arn:aws:iam::123456789012:role/codedeploy"


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
    }
    return {**base, **overrides}


def send(cfn_endpoint, aws, request: str, properties: dict, physical_id: str | None = None):
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
    deployment_group.handler(event, None, client=aws["codedeploy"])
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
    assert info["ec2TagFilters"] == [{"Key": "Fleet", "Value": "blue", "Type": "KEY_AND_VALUE"}]


def test_update_changes_settings_but_keeps_the_fleet_the_switch_chose(aws, app_name, cfn_endpoint):
    physical = send(cfn_endpoint, aws, "Create", props(app_name))["PhysicalResourceId"]
    # The fleet switch has since moved the original environment to green.
    aws["codedeploy"].update_deployment_group(
        applicationName=app_name,
        currentDeploymentGroupName="polybot-bg",
        ec2TagFilters=[{"Key": "Fleet", "Value": "green", "Type": "KEY_AND_VALUE"}],
    )

    body = send(
        cfn_endpoint, aws, "Update", props(app_name, TargetGroupNames=["only-tg"]), physical
    )

    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == physical
    info = get_group(aws, app_name, "polybot-bg")
    assert info["loadBalancerInfo"]["targetGroupInfoList"] == [{"name": "only-tg"}]
    assert info["ec2TagFilters"][0]["Value"] == "green"


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


def test_unknown_request_type_is_answered(aws, app_name, cfn_endpoint):
    body = send(cfn_endpoint, aws, "Resize", props(app_name))

    assert body["Status"] == "FAILED"
    assert "Resize" in body["Reason"]
