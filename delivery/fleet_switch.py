"""Polybot blue/green: deploy the new bundle to the fleet that is not serving, then move traffic.

Run by buildspecs/deploy-polybot.yml as `python -m delivery.fleet_switch`. Exits 0 when the
new fleet serves, 1 (with the reason) otherwise; CodeDeploy rolls back a failed deployment.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from common.env import SettingsError, env_bool, env_int, env_str
from delivery.deployment_group import drop_tag_filters, fleet_tag_set, stack_tags
from delivery.fleets import Plan, SwitchError, describe_fleet, plan_switch, target_states
from delivery.webhook import register_via_ssm

log = logging.getLogger(__name__)

ACTIVE = ["Created", "Queued", "InProgress", "Baking", "Ready"]
FINAL = {"Succeeded", "Failed", "Stopped"}


@dataclass(frozen=True)
class Settings:
    region: str
    application: str
    deployment_group: str
    target_group_arn: str  # the public target group: whoever is healthy there serves
    fleet_tag_key: str
    blue: str
    green: str
    project: str  # this stack's Project and Service tag values: see stack_tags
    service: str
    bundle_dir: Path
    revision_bucket: str
    revision_key: str
    timeout_s: int
    poll_s: int
    register_webhook: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        return cls(
            region=env_str("AWS_REGION", "us-east-1", env),
            application=env_str("CODEDEPLOY_APPLICATION", env=env),
            deployment_group=env_str("CODEDEPLOY_DEPLOYMENT_GROUP", env=env),
            target_group_arn=env_str("PUBLIC_TARGET_GROUP_ARN", env=env),
            fleet_tag_key=env_str("FLEET_TAG_KEY", "Fleet", env),
            blue=env_str("BLUE_FLEET", "blue", env),
            green=env_str("GREEN_FLEET", "green", env),
            project=env_str("PROJECT_TAG", env=env),
            service=env_str("SERVICE_TAG", "polybot", env),
            bundle_dir=Path(env_str("BUNDLE_DIR", env=env)),
            revision_bucket=env_str("REVISION_BUCKET", env=env),
            revision_key=env_str("REVISION_KEY", env=env),
            timeout_s=env_int("DEPLOY_TIMEOUT_SECONDS", 3000, env, lo=60),
            poll_s=env_int("POLL_SECONDS", 15, env, lo=1),
            register_webhook=env_bool("REGISTER_WEBHOOK", True, env),
        )


def console_url(region: str, deployment_id: str) -> str:
    return (
        f"https://{region}.console.aws.amazon.com/codesuite/codedeploy/deployments/"
        f"{deployment_id}?region={region}"
    )


def upload_bundle(s3, bundle_dir: Path, bucket: str, key: str) -> str:
    """Zip the bundle (appspec.yml at its root, hooks executable) to S3; returns its ETag."""
    if not (bundle_dir / "appspec.yml").is_file():
        raise SwitchError(f"{bundle_dir} has no appspec.yml at its root")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(p for p in bundle_dir.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(str(path.relative_to(bundle_dir)), (1980, 1, 1, 0, 0, 0))
            info.external_attr = (path.stat().st_mode & 0o777) << 16  # keep hooks executable
            info.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(info, path.read_bytes())
    reply = s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())
    return reply["ETag"].strip('"')


def fleet_tags(settings: Settings, fleet: str) -> dict:
    """The EC2TagSet of one fleet of this stack, as the deployment group's resource names it."""
    return fleet_tag_set(settings.fleet_tag_key, fleet, settings.project, settings.service)


def point_original(codedeploy, settings: Settings, fleet: str) -> None:
    """Name `fleet` as the deployment group's original environment (the serving one)."""
    info = codedeploy.get_deployment_group(
        applicationName=settings.application, deploymentGroupName=settings.deployment_group
    )["deploymentGroupInfo"]
    drop_tag_filters(codedeploy, settings.application, settings.deployment_group, info)
    codedeploy.update_deployment_group(
        applicationName=settings.application,
        currentDeploymentGroupName=settings.deployment_group,
        ec2TagSet=fleet_tags(settings, fleet),
    )


def refuse_if_busy(codedeploy, settings: Settings) -> None:
    active = codedeploy.list_deployments(
        applicationName=settings.application,
        deploymentGroupName=settings.deployment_group,
        includeOnlyStatuses=ACTIVE,
    )["deployments"]
    if active:
        raise SwitchError(
            f"deployment {active[0]} is still running: {console_url(settings.region, active[0])}"
        )


def wait_for(codedeploy, settings: Settings, deployment_id: str, sleep: Callable) -> str:
    waited = 0
    while True:
        info = codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
        status = info["status"]
        if status in FINAL:
            return status
        if waited >= settings.timeout_s:
            raise SwitchError(f"deployment {deployment_id} still {status} after {waited}s")
        log.info("deployment %s: %s", deployment_id, status)
        sleep(settings.poll_s)
        waited += settings.poll_s


def switch(settings: Settings, clients: dict, sleep: Callable = time.sleep) -> str:
    """The whole switch; returns the deployment id, raises SwitchError when it must stop."""
    codedeploy, ec2 = clients["codedeploy"], clients["ec2"]
    refuse_if_busy(codedeploy, settings)
    ours = stack_tags(settings.project, settings.service)
    blue, green = (
        describe_fleet(ec2, settings.fleet_tag_key, fleet, ours)
        for fleet in (settings.blue, settings.green)
    )
    plan: Plan = plan_switch(
        blue, green, target_states(clients["elbv2"], settings.target_group_arn)
    )
    print(f"{plan.reason}: deploying to {plan.target.value}, {plan.original.value} stays as is")
    etag = upload_bundle(
        clients["s3"], settings.bundle_dir, settings.revision_bucket, settings.revision_key
    )
    # The deployment group's tag set names the original environment; it follows the traffic.
    point_original(codedeploy, settings, plan.original.value)
    deployment_id = codedeploy.create_deployment(
        applicationName=settings.application,
        deploymentGroupName=settings.deployment_group,
        revision={
            "revisionType": "S3",
            "s3Location": {
                "bucket": settings.revision_bucket,
                "key": settings.revision_key,
                "bundleType": "zip",
                "eTag": etag,
            },
        },
        # CodeDeploy API Reference, "TargetInstances": ec2TagSet names the replacement
        # instances by tag groups that must all match (a tagFilters list would OR its entries).
        targetInstances={"ec2TagSet": fleet_tags(settings, plan.target.value)},
        description=f"polybot to {plan.target.value} ({plan.reason})",
    )["deploymentId"]
    print(f"deployment {deployment_id}: {console_url(settings.region, deployment_id)}", flush=True)
    status = wait_for(codedeploy, settings, deployment_id, sleep)
    if status != "Succeeded":
        raise SwitchError(
            f"deployment {deployment_id} {status}; CodeDeploy keeps {plan.original.value} "
            f"serving (automatic rollback). Details: {console_url(settings.region, deployment_id)}"
        )
    print(f"{plan.target.value} serves now; {plan.original.value} kept alive for rollback")
    if settings.register_webhook:
        register_via_ssm(clients["ssm"], sorted(plan.target.instances)[0], sleep=sleep)
    return deployment_id


def make_clients(region: str) -> dict:
    return {
        name: boto3.client(name, region_name=region)
        for name in ("codedeploy", "ec2", "elbv2", "s3", "ssm")
    }


def main(env: Mapping[str, str] = os.environ) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env(env)
        switch(settings, make_clients(settings.region))
    except (SettingsError, SwitchError) as err:
        print(f"fleet switch failed: {err}", file=sys.stderr)
        return 1
    except (ClientError, BotoCoreError) as err:
        print(f"fleet switch failed on an AWS call: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
