"""moto 5.2 has no UpdateDeploymentGroup/DeleteDeploymentGroup; these add them to its
in-process CodeDeploy, close to the real API, so the delivery code runs against moto as is."""

from __future__ import annotations

from moto.codedeploy.exceptions import DeploymentGroupDoesNotExistException
from moto.codedeploy.responses import CodeDeployResponse
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.responses import ActionResult

# Request field -> moto DeploymentGroup attribute, for the fields the delivery code updates.
UPDATABLE = {
    "ec2TagFilters": "ec2_tag_filters",
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


def update_deployment_group(self: CodeDeployResponse) -> ActionResult:
    groups, name = _group(self, "currentDeploymentGroupName")
    for param, attr in UPDATABLE.items():
        value = self._get_param(param)
        if value is not None:  # like the real API: an omitted field stays as it was
            setattr(groups[name], attr, value)
    return ActionResult({"hooksNotCleanedUp": []})


def delete_deployment_group(self: CodeDeployResponse) -> ActionResult:
    groups, name = _group(self, "deploymentGroupName")
    del groups[name]
    return ActionResult({"hooksNotCleanedUp": []})


def install(monkeypatch) -> None:
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
