"""CloudFormation custom resource: the CodeDeploy EC2 blue/green deployment group for polybot.

CloudFormation can create EC2 blue/green deployment groups only for Lambda, so this handler
calls the CodeDeploy API itself. It is packaged alone (stdlib + the runtime's boto3) from
delivery/ by `aws cloudformation package`, hence no imports from the rest of the repository
(tests/delivery/test_lambda_package.py imports this file alone to hold it to that).

ResourceProperties (strings unless noted):
  ApplicationName, DeploymentGroupName, ServiceRoleArn, TargetGroupNames (list),
  FleetTagKey, OriginalFleet (the fleet that serves first, e.g. "blue"),
  ProjectTag, ServiceTag (the Project and Service tag values of the polybot instances),
  DeploymentConfigName (optional, default CodeDeployDefault.AllAtOnce).

The group names its original environment by an EC2 tag set: Fleet AND Project AND Service, so
no other stack's Fleet=blue|green instance is ever part of it.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import boto3
from botocore.exceptions import ClientError

log = logging.getLogger(__name__)
log.setLevel(logging.INFO)

DEFAULT_CONFIG = "CodeDeployDefault.AllAtOnce"
# Rolled back automatically: a failed deployment, or one stopped by an operator.
ROLLBACK_EVENTS = ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_REQUEST"]
GONE = {"DeploymentGroupDoesNotExistException", "ApplicationDoesNotExistException"}
# CodeDeploy API Reference, "CreateDeploymentGroup" and "UpdateDeploymentGroup" (Errors):
# InvalidRoleException, which CodeDeploy also answers while the service role CloudFormation has
# just created is not visible to it yet. Only that code is retried, a few times with a capped
# backoff: waits of 2+4+8+16+16 = 46 s at most, well inside the function's 120 s timeout
# (pipeline.yaml), which must leave room for the API calls and the answer to CloudFormation.
# Its own schedule, not common/backoff.py's: the Lambda package is delivery/ alone, so this
# module imports nothing from common/ (tests/delivery/test_lambda_package.py).
ROLE_NOT_READY = "InvalidRoleException"
ROLE_ATTEMPTS = 6
ROLE_FIRST_WAIT_S = 2.0
ROLE_MAX_WAIT_S = 16.0


def group_settings(props: dict[str, Any]) -> dict[str, Any]:
    """The CodeDeploy arguments shared by create and update (no tags: see create and update)."""
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


def ec2_tag_set(tags: list[tuple[str, str]]) -> dict[str, Any]:
    """An EC2TagSet with one single-filter tag group per (key, value): an instance must carry all.

    CodeDeploy API Reference, "EC2TagSet": an instance belongs to the group only when it is
    identified by every tag group of ec2TagSetList, whereas the entries of one group, like those
    of a plain ec2TagFilters list ("CreateDeploymentGroup": "instances with any of the specified
    tags"), are alternatives. At most 3 groups (TagSetListLimitExceededException).
    """
    return {"ec2TagSetList": [[{"Key": k, "Value": v, "Type": "KEY_AND_VALUE"}] for k, v in tags]}


def stack_tags(project: str, service: str) -> dict[str, str]:
    """The tags that tell this stack's polybot instances from any other stack's. Both are
    required: without Project, a fleet's tags would take in every stack's polybot instances."""
    for name, value in (("Project", project), ("Service", service)):
        if not value:
            raise ValueError(f"the {name} tag value is required to name only this stack's fleet")
    return {"Project": project, "Service": service}


def fleet_tag_set(fleet_key: str, fleet: str, project: str, service: str) -> dict[str, Any]:
    """This stack's instances of one fleet: Fleet=<fleet>, Project and Service all match. Both
    the deployment group's original environment (here) and the fleet switch's target
    (delivery/fleet_switch.py) are named by it."""
    return ec2_tag_set([(fleet_key, fleet), *stack_tags(project, service).items()])


def _fleet_tag_set(props: dict[str, Any], fleet: str) -> dict[str, Any]:
    return fleet_tag_set(
        props["FleetTagKey"], fleet, props.get("ProjectTag"), props.get("ServiceTag")
    )


def named_fleet(info: dict[str, Any], fleet_key: str) -> str | None:
    """The fleet a deployment group's tags name: its tag set (the fleet switch keeps it on the
    serving fleet), else the ec2TagFilters this resource wrote before it used tag sets."""
    groups = (info.get("ec2TagSet") or {}).get("ec2TagSetList") or []
    filters = [f for group in groups for f in group] + list(info.get("ec2TagFilters") or [])
    return next((f["Value"] for f in filters if f.get("Key") == fleet_key and f.get("Value")), None)


def drop_tag_filters(client, application: str, group: str, info: dict[str, Any]) -> None:
    """Clear the plain ec2TagFilters an older release left on the group, before a tag set goes on.

    The two cannot be sent together ("CreateDeploymentGroup": ec2TagSet "cannot be used in the
    same call as ec2TagFilters"; InvalidEC2TagCombinationException), and "UpdateDeploymentGroup"
    says of ec2TagFilters "To remove tags, do not enter any tag names": an empty list, alone.
    """
    if info.get("ec2TagFilters"):
        client.update_deployment_group(
            applicationName=application, currentDeploymentGroupName=group, ec2TagFilters=[]
        )


def retry_role(call: Callable[[], Any], sleep: Callable[[float], Any]) -> Any:
    """Run call, retrying InvalidRoleException only (see ROLE_NOT_READY); others raise at once."""
    wait, attempt = ROLE_FIRST_WAIT_S, 1
    while True:
        try:
            return call()
        except ClientError as err:
            if err.response["Error"]["Code"] != ROLE_NOT_READY or attempt >= ROLE_ATTEMPTS:
                raise
            log.warning("attempt %d: %s; retrying in %.0f s", attempt, err, wait)
        sleep(wait)
        wait, attempt = min(wait * 2, ROLE_MAX_WAIT_S), attempt + 1


def physical_id(props: dict[str, Any]) -> str:
    return f"{props['ApplicationName']}/{props['DeploymentGroupName']}"


def create(client, props: dict[str, Any], sleep: Callable[[float], Any] = time.sleep) -> str:
    arguments = {
        "deploymentGroupName": props["DeploymentGroupName"],
        "ec2TagSet": _fleet_tag_set(props, props["OriginalFleet"]),
        **group_settings(props),
    }
    retry_role(lambda: client.create_deployment_group(**arguments), sleep)
    return physical_id(props)


def update(
    client, props: dict[str, Any], old_id: str, sleep: Callable[[float], Any] = time.sleep
) -> str:
    if physical_id(props) != old_id:
        # A new name means a new group; CloudFormation then deletes the old one.
        return create(client, props, sleep)
    application, group = props["ApplicationName"], props["DeploymentGroupName"]
    settings = group_settings(props)
    info = client.get_deployment_group(applicationName=application, deploymentGroupName=group)[
        "deploymentGroupInfo"
    ]
    # "UpdateDeploymentGroup" on the tags: "To keep the existing tags, enter their names. To
    # remove tags, do not enter any tag names." So the tags are always sent: those of the fleet
    # the fleet switch last named as the original environment (the serving one), else of
    # OriginalFleet; Project and Service come from the properties.
    fleet = named_fleet(info, props["FleetTagKey"]) or props["OriginalFleet"]
    drop_tag_filters(client, application, group, info)
    retry_role(
        lambda: client.update_deployment_group(
            currentDeploymentGroupName=group, ec2TagSet=_fleet_tag_set(props, fleet), **settings
        ),
        sleep,
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


def handler(
    event: dict[str, Any], context: Any, client=None, sleep: Callable[[float], Any] = time.sleep
) -> None:
    """Lambda entry point. Always answers CloudFormation, or the stack would hang for an hour."""
    request = event.get("RequestType")
    # Without a slash, so a Delete after a failed Create knows there is nothing to remove.
    old_id = event.get("PhysicalResourceId") or f"not-created-{event.get('RequestId', '')}"
    props = event.get("ResourceProperties", {})
    log.info("%s %s", request, old_id)
    try:
        codedeploy = client or boto3.client("codedeploy")
        if request == "Create":
            resource_id = create(codedeploy, props, sleep)
        elif request == "Update":
            resource_id = update(codedeploy, props, old_id, sleep)
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
