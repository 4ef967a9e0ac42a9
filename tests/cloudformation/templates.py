"""Template helpers: load templates as CloudFormation sees them, and deploy them into moto."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import boto3
from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_DIR = ROOT / "cloudformation"
# The stacks this suite owns; other templates (e.g. pipeline.yaml) get only the lint and
# IAM policy checks.
STACK_TEMPLATES = ("network.yaml", "data.yaml", "app.yaml", "observability.yaml")

# Resource types in our templates that moto 5.2.5's CloudFormation skips (it logs
# "No Moto CloudFormation support for ..."): checked by parsing the template instead.
MOTO_SKIPS = {
    "AWS::S3::BucketPolicy",
    "AWS::SecretsManager::Secret",
    "AWS::AutoScaling::ScalingPolicy",
    "AWS::CloudWatch::Alarm",
    "AWS::CertificateManager::Certificate",
}


def ami_parameter() -> str:
    """The SSM public parameter deploy.sh reads the Amazon Linux 2023 AMI from."""
    match = re.search(r"^AMI_PARAMETER=(\S+)$", (TEMPLATE_DIR / "stacks.sh").read_text(), re.M)
    assert match, "stacks.sh names no AMI_PARAMETER"
    return match.group(1)


def all_templates() -> list[Path]:
    return sorted([*TEMPLATE_DIR.glob("*.yaml"), *TEMPLATE_DIR.glob("*.yml")])


def load(name: str | Path) -> dict[str, Any]:
    """The template with short tags (!Ref, !Sub ...) expanded to their Fn:: long forms."""
    path = name if isinstance(name, Path) else TEMPLATE_DIR / name
    template, matches = decode(str(path))
    assert not matches, f"{path.name} does not parse: {matches}"
    return template


def resources_of_type(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_}


def unique_prefix() -> str:
    """A Prefix no other test uses: resource names derive from it (max 20 characters)."""
    return "t" + uuid.uuid4().hex[:10]


class MotoStacks:
    """Deploys our templates into a moto server under one unique prefix."""

    def __init__(self, endpoint: str, prefix: str | None = None, region: str = "us-east-1") -> None:
        self.endpoint = endpoint
        self.prefix = prefix or unique_prefix()
        self.region = region
        self.cloudformation = self.client("cloudformation")

    def client(self, service: str):
        # Explicit fake credentials: module-scoped fixtures run before the autouse env fixture.
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def stack_name(self, kind: str) -> str:
        return f"{self.prefix}-{kind}"

    def deploy(
        self, kind: str, template: str, spell_out_defaults: bool = False, **parameters: str
    ) -> dict[str, str]:
        """Create the stack and wait for it; returns its outputs.

        spell_out_defaults passes every parameter the template defaults, with its default, for
        a stack that is then updated through a change set (the AWS CLI's `cloudformation
        deploy`). That call sends each parameter it does not set as UsePreviousValue, and
        moto 5.2.5 counts a defaulted parameter coming back that way as changed (it compares
        with the parameters given at creation). It then updates every resource that refers
        to one, conditions not considered: DomainAliasRecord, never created without a
        DomainName, fails in moto.route53 with "AttributeError: 'NoneType' object has no
        attribute 'name'". Real CloudFormation sees no change in those parameters.
        """
        name = self.stack_name(kind)
        params = {"Prefix": self.prefix, **parameters}
        if spell_out_defaults:
            declared = load(template)["Parameters"]
            defaults = {k: str(v["Default"]) for k, v in declared.items() if "Default" in v}
            params = {**defaults, **params}
        self.cloudformation.create_stack(
            StackName=name,
            TemplateBody=(TEMPLATE_DIR / template).read_text(),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
            Capabilities=["CAPABILITY_NAMED_IAM"],
            # As deploy.sh tags every stack.
            Tags=[{"Key": "Project", "Value": self.prefix}],
        )
        self.cloudformation.get_waiter("stack_create_complete").wait(
            StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
        return self.outputs(kind)

    def outputs(self, kind: str) -> dict[str, str]:
        stack = self.cloudformation.describe_stacks(StackName=self.stack_name(kind))["Stacks"][0]
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    def exports(self) -> dict[str, str]:
        pages = self.cloudformation.get_paginator("list_exports").paginate()
        exports = [e for page in pages for e in page["Exports"]]
        return {e["Name"]: e.get("Value") for e in exports if e["Name"].startswith(self.prefix)}

    def app_parameters(self, certificate_arn: str = "") -> dict[str, str]:
        """The app stack's parameters as deploy.sh gives a new one."""
        params = {
            "NetworkStackName": self.stack_name("network"),
            "DataStackName": self.stack_name("data"),
        }
        if certificate_arn:
            params["CertificateArn"] = certificate_arn
        # As deploy.sh does for a new app stack: today's AMI for every fleet, and both polybot
        # fleets on the template's PolybotInstanceType.
        ami = self.client("ssm").get_parameter(Name=ami_parameter())["Parameter"]["Value"]
        params.update(BlueImageId=ami, GreenImageId=ami, WorkerImageId=ami)
        type_ = load("app.yaml")["Parameters"]["PolybotInstanceType"]["Default"]
        params.update(BlueInstanceType=type_, GreenInstanceType=type_)
        return params

    def deploy_all(self, certificate_arn: str = "") -> dict[str, dict[str, str]]:
        network = self.deploy("network", "network.yaml")
        data = self.deploy("data", "data.yaml")
        app = self.deploy("app", "app.yaml", **self.app_parameters(certificate_arn))
        observability = self.deploy(
            "observability",
            "observability.yaml",
            DataStackName=self.stack_name("data"),
            AppStackName=self.stack_name("app"),
        )
        return {"network": network, "data": data, "app": app, "observability": observability}
