"""moto 5.2 has no UpdateDeploymentGroup/DeleteDeploymentGroup; these add them to its
in-process CodeDeploy, close to the real API, so the delivery code runs against moto as is.

The tag fields follow the CodeDeploy API Reference to the letter, stricter than moto:
"UpdateDeploymentGroup" says of the tags "To keep the existing tags, enter their names. To
remove tags, do not enter any tag names", so a tag field left out of an update removes the
tags; and ec2TagFilters with ec2TagSet in one call (create or update) is refused with
InvalidEC2TagCombinationException ("CreateDeploymentGroup": "Cannot be used in the same call")."""

from __future__ import annotations

from moto.codedeploy.exceptions import CodeDeployException, DeploymentGroupDoesNotExistException
from moto.codedeploy.responses import CodeDeployResponse
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.responses import ActionResult

# Tag fields -> moto DeploymentGroup attribute and its "no tags" value: omitted means removed.
TAG_FIELDS = {"ec2TagFilters": ("ec2_tag_filters", list), "ec2TagSet": ("ec2_tag_set", dict)}
# Request field -> moto DeploymentGroup attribute, for the other fields the delivery code updates:
# omitted means unchanged ("if you want to change it").
UPDATABLE = {
    "serviceRoleArn": "service_role_arn",
    "deploymentConfigName": "deployment_config_name",
    "deploymentStyle": "deployment_style",
    "blueGreenDeploymentConfiguration": "blue_green_deployment_configuration",
    "loadBalancerInfo": "load_balancer_info",
    "autoRollbackConfiguration": "auto_rollback_configuration",
}


def _group(response: CodeDeployResponse, name_param: str):
    app = response._get_param("applicationName")
    name = response._get_param(name_param)
    groups = response.codedeploy_backend.deployment_groups.get(app, {})
    if name not in groups:
        raise DeploymentGroupDoesNotExistException(f"No deployment group {name} in {app}")
    return groups, name


class InvalidEC2TagCombinationException(CodeDeployException):
    code = 400

    def __init__(self) -> None:
        super().__init__(
            "InvalidEC2TagCombinationException",
            "A call was submitted that specified both Ec2TagFilters and Ec2TagSet",
        )


def _refuse_both_tag_kinds(response: CodeDeployResponse) -> None:
    if all(response._get_param(param) is not None for param in TAG_FIELDS):
        raise InvalidEC2TagCombinationException()


def update_deployment_group(self: CodeDeployResponse) -> ActionResult:
    _refuse_both_tag_kinds(self)
    groups, name = _group(self, "currentDeploymentGroupName")
    for param, (attr, empty) in TAG_FIELDS.items():
        value = self._get_param(param)
        setattr(groups[name], attr, empty() if value is None else value)  # omitted: removed
    for param, attr in UPDATABLE.items():
        value = self._get_param(param)
        if value is not None:  # an omitted field stays as it was
            setattr(groups[name], attr, value)
    return ActionResult({"hooksNotCleanedUp": []})


def delete_deployment_group(self: CodeDeployResponse) -> ActionResult:
    groups, name = _group(self, "deploymentGroupName")
    del groups[name]
    return ActionResult({"hooksNotCleanedUp": []})


def install(monkeypatch) -> None:
    moto_create = CodeDeployResponse.create_deployment_group

    def create_deployment_group(self: CodeDeployResponse):
        _refuse_both_tag_kinds(self)
        return moto_create(self)

    monkeypatch.setattr(CodeDeployResponse, "create_deployment_group", create_deployment_group)
    monkeypatch.setattr(
        CodeDeployResponse, "update_deployment_group", update_deployment_group, raising=False
    )
    monkeypatch.setattr(
        CodeDeployResponse, "delete_deployment_group", delete_deployment_group, raising=False
    )


def set_status(deployment_id: str, status: str, region: str = "us-east-1") -> None:
    """Play CodeDeploy's part: moto leaves every deployment in 'Created'."""
    from moto.codedeploy.models import codedeploy_backends

    codedeploy_backends[DEFAULT_ACCOUNT_ID][region].deployments[deployment_id].status = status
