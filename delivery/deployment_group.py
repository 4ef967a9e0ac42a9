"""CloudFormation custom resource: the CodeDeploy EC2 blue/green deployment group for polybot.

CloudFormation can create EC2 blue/green deployment groups only for Lambda, so this handler
calls the CodeDeploy API itself. It is packaged alone (stdlib + the runtime's boto3) from
delivery/ by `aws cloudformation package`, hence no imports from the rest of the repository.

ResourceProperties (strings unless noted):
  ApplicationName, DeploymentGroupName, ServiceRoleArn, TargetGroupNames (list),
  FleetTagKey, OriginalFleet (the fleet that serves first, e.g. "blue"),
  DeploymentConfigName (optional, default CodeDeployDefault.AllAtOnce).
"""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Any

import boto3
from botocore.exceptions import ClientError

log = logging.getLogger(__name__)
log.setLevel(logging.INFO)

DEFAULT_CONFIG = "CodeDeployDefault.AllAtOnce"
# Rolled back automatically: a failed deployment, or one stopped by an operator.
ROLLBACK_EVENTS = ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_REQUEST"]
GONE = {"DeploymentGroupDoesNotExistException", "ApplicationDoesNotExistException"}


def group_settings(props: dict[str, Any]) -> dict[str, Any]:
    """The CodeDeploy arguments shared by create and update (no tag filters: see update)."""
    names = props["TargetGroupNames"]
    if isinstance(names, str):
        names = [n for n in names.split(",") if n]
    if not names:
        raise ValueError("TargetGroupNames must name at least one target group")
    return {
        "applicationName": props["ApplicationName"],
        "serviceRoleArn": props["ServiceRoleArn"],
        "deploymentConfigName": props.get("DeploymentConfigName") or DEFAULT_CONFIG,
        "deploymentStyle": {
            "deploymentType": "BLUE_GREEN",
            "deploymentOption": "WITH_TRAFFIC_CONTROL",
        },
        "blueGreenDeploymentConfiguration": {
            # The replacement fleet already exists (tagged instances); nothing is copied.
            "greenFleetProvisioningOption": {"action": "DISCOVER_EXISTING"},
            # Reroute as soon as the replacement validated: nobody waits at a console.
            "deploymentReadyOption": {"actionOnTimeout": "CONTINUE_DEPLOYMENT"},
            # The old fleet stays alive: it is the next release's target and the rollback.
            "terminateBlueInstancesOnDeploymentSuccess": {"action": "KEEP_ALIVE"},
        },
        "loadBalancerInfo": {"targetGroupInfoList": [{"name": n} for n in names]},
        "autoRollbackConfiguration": {"enabled": True, "events": ROLLBACK_EVENTS},
    }


def original_fleet_filter(props: dict[str, Any]) -> list[dict[str, str]]:
    return [{"Key": props["FleetTagKey"], "Value": props["OriginalFleet"], "Type": "KEY_AND_VALUE"}]


def physical_id(props: dict[str, Any]) -> str:
    return f"{props['ApplicationName']}/{props['DeploymentGroupName']}"


def create(client, props: dict[str, Any]) -> str:
    client.create_deployment_group(
        deploymentGroupName=props["DeploymentGroupName"],
        ec2TagFilters=original_fleet_filter(props),
        **group_settings(props),
    )
    return physical_id(props)


def update(client, props: dict[str, Any], old_id: str) -> str:
    if physical_id(props) != old_id:
        # A new name means a new group; CloudFormation then deletes the old one.
        return create(client, props)
    # ec2TagFilters are left alone: the fleet switch points them at whichever fleet serves.
    client.update_deployment_group(
        currentDeploymentGroupName=props["DeploymentGroupName"], **group_settings(props)
    )
    return old_id


def delete(client, old_id: str) -> None:
    app, sep, group = old_id.partition("/")
    if not sep:
        return  # a Create that failed before naming anything: nothing to remove
    try:
        client.delete_deployment_group(applicationName=app, deploymentGroupName=group)
    except ClientError as err:
        if err.response["Error"]["Code"] not in GONE:
            raise
        log.info("deployment group %s already gone", old_id)


def send_response(event: dict[str, Any], status: str, reason: str, resource_id: str) -> None:
    """PUT the result to the pre-signed ResponseURL, as cfn-response does."""
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:3000],
            "PhysicalResourceId": resource_id,
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "NoEcho": False,
            "Data": {"DeploymentGroupName": resource_id.partition("/")[2]},
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - CloudFormation's https ResponseURL
        event["ResponseURL"],
        data=body,
        method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(body))},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310 - same URL
        log.info("CloudFormation response %s: HTTP %s", status, reply.status)


def handler(event: dict[str, Any], context: Any, client=None) -> None:
    """Lambda entry point. Always answers CloudFormation, or the stack would hang for an hour."""
    request = event.get("RequestType")
    # Without a slash, so a Delete after a failed Create knows there is nothing to remove.
    old_id = event.get("PhysicalResourceId") or f"not-created-{event.get('RequestId', '')}"
    props = event.get("ResourceProperties", {})
    log.info("%s %s", request, old_id)
    try:
        codedeploy = client or boto3.client("codedeploy")
        if request == "Create":
            resource_id = create(codedeploy, props)
        elif request == "Update":
            resource_id = update(codedeploy, props, old_id)
        elif request == "Delete":
            delete(codedeploy, old_id)
            resource_id = old_id
        else:
            raise ValueError(f"unknown RequestType {request!r}")
    except Exception as err:  # CloudFormation must hear back whatever failed
        log.exception("%s failed", request)
        send_response(event, "FAILED", f"{type(err).__name__}: {err}", old_id)
    else:
        send_response(event, "SUCCESS", f"{request} done", resource_id)
