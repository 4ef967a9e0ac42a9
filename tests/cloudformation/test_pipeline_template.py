"""pipeline.yaml against what AWS documents for the resources it creates."""

from __future__ import annotations

import re
from typing import Any

import yaml

from tests.cloudformation.templates import ROOT, load, resources_of_type

PIPELINE = load("pipeline.yaml")
RESOURCES = PIPELINE["Resources"]

# What CodeDeploy calls for our two groups: EC2 blue/green over ALB target groups with tagged
# instances, and in place on one Auto Scaling group. Each action is in the AWS managed policy
# AWSCodeDeployRole (v11, "AWSCodeDeployRole - AWS Managed Policy" in the managed policy
# reference), which the CodeDeploy guide tells you to attach.
CODEDEPLOY_NEEDS = {
    "ec2:DescribeInstances",
    "ec2:DescribeInstanceStatus",
    "tag:GetResources",
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeLifecycleHooks",
    "autoscaling:PutLifecycleHook",
    "autoscaling:DeleteLifecycleHook",
    "autoscaling:CompleteLifecycleAction",
    "autoscaling:RecordLifecycleActionHeartbeat",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetGroupAttributes",
    "elasticloadbalancing:DescribeTargetHealth",
    "elasticloadbalancing:RegisterTargets",
    "elasticloadbalancing:DeregisterTargets",
}
AWS_CODEDEPLOY_ROLE = CODEDEPLOY_NEEDS | {
    "autoscaling:CreateOrUpdateTags",
    "autoscaling:DescribeScalingActivities",
    "autoscaling:DescribePolicies",
    "autoscaling:DescribeScheduledActions",
    "autoscaling:DescribeNotificationConfigurations",
    "autoscaling:SuspendProcesses",
    "autoscaling:ResumeProcesses",
    "cloudwatch:DescribeAlarms",
}


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]


def actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


def test_codedeploy_role_grants_what_blue_green_and_in_place_need():
    granted = set().union(*map(actions, statements(RESOURCES["CodeDeployServiceRole"])))
    assert granted >= CODEDEPLOY_NEEDS, sorted(CODEDEPLOY_NEEDS - granted)


def test_codedeploy_role_grants_nothing_the_managed_policy_does_not():
    """Least privilege: every action has the managed policy as its source, none beyond it."""
    granted = set().union(*map(actions, statements(RESOURCES["CodeDeployServiceRole"])))
    assert granted <= AWS_CODEDEPLOY_ROLE, sorted(granted - AWS_CODEDEPLOY_ROLE)


def test_codedeploy_role_writes_only_to_our_target_groups_and_asg():
    for statement in statements(RESOURCES["CodeDeployServiceRole"]):
        writes = {a for a in actions(statement) if not a.split(":")[1].startswith("Describe")}
        writes -= {"tag:GetResources"}
        if writes:
            assert statement["Resource"] != "*", statement["Sid"]


def test_ecr_repositories_are_named_from_the_lowercase_prefix_and_emptied_on_delete():
    """ECR names must be lowercase, which a stack name need not be; a repository that still
    holds images fails its stack's deletion unless EmptyOnDelete is set."""
    prefix = PIPELINE["Parameters"]["Prefix"]
    assert prefix["AllowedPattern"] == "^[a-z][a-z0-9-]{1,19}$"
    repositories = resources_of_type(PIPELINE, "AWS::ECR::Repository")
    assert set(repositories) == {"PolybotRepository", "Yolo5Repository"}
    for repository in repositories.values():
        name = repository["Properties"]["RepositoryName"]["Fn::Sub"]
        assert re.fullmatch(r"\$\{Prefix\}/[a-z0-9]+", name), name
        assert repository["Properties"]["EmptyOnDelete"] is True


def test_bundles_are_not_expired_before_their_images():
    """ECR keeps images by count and the ASG reinstalls the last good bundle at any age, so
    the artifact bucket must not expire current objects by age."""
    rules = RESOURCES["ArtifactBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    for rule in rules:
        assert "ExpirationInDays" not in rule and "ExpirationDate" not in rule, rule["Id"]


def test_test_project_has_the_cache_its_buildspec_declares():
    buildspec = yaml.safe_load((ROOT / "buildspecs" / "test.yml").read_text())
    assert buildspec["cache"]["paths"]
    project = RESOURCES["TestProject"]["Properties"]
    cache = project["Cache"]
    assert cache["Type"] == "S3"
    location = cache["Location"]["Fn::Sub"]
    assert location.startswith("${ArtifactBucket}/")
    # The Test role may read and write exactly that prefix.
    wanted = "${ArtifactBucket.Arn}/" + location.split("/", 1)[1] + "/*"
    cache_grants = [
        s for s in statements(RESOURCES["TestProjectRole"]) if s["Resource"] == {"Fn::Sub": wanted}
    ]
    assert cache_grants and {"s3:GetObject", "s3:PutObject"} <= actions(cache_grants[0])


def test_the_test_stage_takes_torch_from_the_cpu_index_like_the_image():
    """PyPI's Linux torch is the CUDA build (about 3 GB of nvidia wheels on every run)."""
    variables = yaml.safe_load((ROOT / "buildspecs" / "test.yml").read_text())["env"]["variables"]
    index = variables["PIP_EXTRA_INDEX_URL"]
    assert index == "https://download.pytorch.org/whl/cpu"
    dockerfile = (ROOT / "yolo5" / "Dockerfile").read_text()
    assert f"ARG TORCH_INDEX_URL={index}\n" in dockerfile
    assert '--extra-index-url "${TORCH_INDEX_URL}"' in dockerfile
