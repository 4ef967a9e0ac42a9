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
# AWSCodeDeployRole (v12, "AWSCodeDeployRole - AWS Managed Policy" in the managed policy
# reference), which the CodeDeploy guide tells you to attach, or is one the guide adds for an
# Auto Scaling group created with a launch template (LAUNCH_TEMPLATE_NEEDS).
LAUNCH_TEMPLATE_NEEDS = {
    # CodeDeploy guide, "Step 2: Create a service role for CodeDeploy" (the note under
    # AWSCodeDeployRole) and "Troubleshoot Amazon EC2 Auto Scaling issues": not in the managed
    # policy, needed when the Auto Scaling group uses a launch template, as our worker group does.
    "ec2:RunInstances",
    "ec2:CreateTags",
    "iam:PassRole",
}
CODEDEPLOY_NEEDS = LAUNCH_TEMPLATE_NEEDS | {
    "ec2:DescribeInstances",
    "ec2:DescribeInstanceStatus",
    "tag:GetResources",
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeAutoScalingInstances",
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
# The part of AWSCodeDeployRole v12 that can matter to our groups (it grants more: creating,
# updating and deleting ASGs, ec2:TerminateInstances, Classic Load Balancer, sns:Publish,
# cloudwatch:PutMetricAlarm; pipeline.yaml says why each is left out).
AWS_CODEDEPLOY_ROLE = (CODEDEPLOY_NEEDS - LAUNCH_TEMPLATE_NEEDS) | {
    "autoscaling:CreateOrUpdateTags",
    "autoscaling:DescribeScalingActivities",
    "autoscaling:DescribePolicies",
    "autoscaling:DescribeScheduledActions",
    "autoscaling:DescribeNotificationConfigurations",
    "autoscaling:SuspendProcesses",
    "autoscaling:ResumeProcesses",
    "cloudwatch:DescribeAlarms",
}
ROLE = RESOURCES["CodeDeployServiceRole"]
# What RunInstances and CreateTags may touch: this account's and region's EC2 resources, and
# the AMI (an image ARN has no account).
LAUNCH_RESOURCES = [
    {"Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:*"},
    {"Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}::image/*"},
]
WORKER_ROLE_ARN = {
    "Fn::Sub": [
        "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${Role}",
        {"Role": {"Fn::ImportValue": {"Fn::Sub": "${AppStackName}-WorkerInstanceRoleName"}}},
    ]
}


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]


def actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


def granting(action: str) -> list[dict[str, Any]]:
    return [s for s in statements(ROLE) if s["Effect"] == "Allow" and action in actions(s)]


def resources(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


def test_codedeploy_role_grants_what_blue_green_and_in_place_need():
    granted = set().union(*map(actions, statements(ROLE)))
    assert granted >= CODEDEPLOY_NEEDS, sorted(CODEDEPLOY_NEEDS - granted)


def test_codedeploy_role_grants_nothing_the_codedeploy_guide_does_not():
    """Least privilege: every action has the managed policy or the guide's launch-template
    note as its source, none beyond them."""
    allowed = AWS_CODEDEPLOY_ROLE | LAUNCH_TEMPLATE_NEEDS
    granted = set().union(*map(actions, statements(ROLE)))
    assert granted <= allowed, sorted(granted - allowed)


def test_codedeploy_role_writes_only_to_our_target_groups_asg_and_worker_launches():
    """Every write names its resources: the two target groups, the worker ASG, the worker
    role (PassRole), or the EC2 resources of a launch in this account and region."""
    asg_arn = (
        "arn:${AWS::Partition}:autoscaling:${AWS::Region}:${AWS::AccountId}"
        ":autoScalingGroup:*:autoScalingGroupName/${Asg}"
    )
    ours = {
        "elasticloadbalancing": [
            {"Fn::ImportValue": {"Fn::Sub": "${AppStackName}-PublicTargetGroupArn"}},
            {"Fn::ImportValue": {"Fn::Sub": "${AppStackName}-InternalTargetGroupArn"}},
        ],
        "autoscaling": [
            {
                "Fn::Sub": [
                    asg_arn,
                    {
                        "Asg": {
                            "Fn::ImportValue": {
                                "Fn::Sub": "${AppStackName}-WorkerAutoScalingGroupName"
                            }
                        }
                    },
                ]
            }
        ],
        "iam": [WORKER_ROLE_ARN],
        "ec2": LAUNCH_RESOURCES,
    }
    for statement in statements(ROLE):
        writes = {a for a in actions(statement) if not a.split(":")[1].startswith("Describe")}
        writes -= {"tag:GetResources"}  # a read (the tagging API), with no resource type
        if not writes:
            continue
        [service] = {a.split(":")[0] for a in writes}  # one service per write statement
        assert resources(statement) == ours[service], statement["Sid"]


def test_codedeploy_role_passes_only_the_worker_role_and_only_to_ec2():
    [statement] = granting("iam:PassRole")
    assert actions(statement) == {"iam:PassRole"}
    assert resources(statement) == [WORKER_ROLE_ARN]
    assert statement.get("Condition") == {
        "StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}
    }


def test_worker_role_arn_matches_the_app_stack_role():
    """The PassRole ARN is role/<name>: right only while the worker role has no Path, and the
    export is the role's name."""
    app = load("app.yaml")
    role = app["Resources"]["WorkerInstanceRole"]
    assert role["Type"] == "AWS::IAM::Role"
    assert role["Properties"].get("Path", "/") == "/"
    output = app["Outputs"]["WorkerInstanceRoleName"]
    assert output["Value"] == {"Ref": "WorkerInstanceRole"}
    assert output["Export"]["Name"] == {"Fn::Sub": "${AWS::StackName}-WorkerInstanceRoleName"}


def test_codedeploy_role_runs_instances_in_this_account_and_region_only():
    [statement] = granting("ec2:RunInstances")
    assert actions(statement) == {"ec2:RunInstances"}
    assert resources(statement) == LAUNCH_RESOURCES
    assert "Condition" not in statement


def test_codedeploy_role_tags_only_what_it_launches():
    [statement] = granting("ec2:CreateTags")
    assert actions(statement) == {"ec2:CreateTags"}
    assert resources(statement) == LAUNCH_RESOURCES
    assert statement.get("Condition") == {"StringEquals": {"ec2:CreateAction": "RunInstances"}}


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
