"""Least privilege in every template: no wildcard actions, no wildcard resource where an ARN exists.

Runs over every template in cloudformation/, including ones other parts of the project add.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.cloudformation.templates import all_templates, load

# Actions that have no resource-level ARN, so IAM accepts them only with Resource "*".
RESOURCELESS_ACTIONS = {
    "ecr:GetAuthorizationToken",  # docker login to ECR; token is account-wide
    "cloudwatch:PutMetricData",  # metrics have no ARN (scope with the cloudwatch:namespace key)
    "xray:PutTraceSegments",  # X-Ray ingestion has no resource type
    "xray:PutTelemetryRecords",
    "sts:GetCallerIdentity",  # who-am-I; no resource
    "ec2:DescribeInstances",  # EC2 Describe* actions support no resource-level permissions
    "ec2:DescribeTags",
    "autoscaling:DescribeAutoScalingGroups",  # Auto Scaling Describe* likewise
    "autoscaling:DescribeLifecycleHooks",
    "elasticloadbalancing:DescribeLoadBalancers",  # ELB Describe* likewise
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetHealth",
    "codepipeline:PutJobSuccessResult",  # job results name a job id, not an ARN
    "codepipeline:PutJobFailureResult",
    "codedeploy:ListDeploymentConfigs",  # List* over the account
    "codedeploy:ListApplications",
    "autoscaling:DescribeAutoScalingInstances",  # Describe*, as above
    "autoscaling:DescribeScalingActivities",
    "autoscaling:DescribePolicies",
    "autoscaling:DescribeScheduledActions",
    "autoscaling:DescribeNotificationConfigurations",
    "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "elasticloadbalancing:DescribeTargetGroupAttributes",
    "ec2:DescribeInstanceStatus",
    "tag:GetResources",  # the tagging API has no resource types
    "ssm:GetCommandInvocation",  # reads by command id; no resource type
    "ssm:ListAssociations",  # account-wide list
    # The SSM agent's message channels: these two services define no resource types at all.
    "ec2messages:AcknowledgeMessage",
    "ec2messages:DeleteMessage",
    "ec2messages:FailMessage",
    "ec2messages:GetEndpoint",
    "ec2messages:GetMessages",
    "ec2messages:SendReply",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
}
IAM_TYPES_WITH_INLINE = {"AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group"}
IAM_POLICY_TYPES = {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}


def _branches(node: Any) -> list[Any]:
    """Both sides of an Fn::If (minus AWS::NoValue), else the node itself."""
    if isinstance(node, dict) and "Fn::If" in node:
        _, yes, no = node["Fn::If"]
        return [b for side in (yes, no) for b in _branches(side)]
    if node == {"Ref": "AWS::NoValue"}:
        return []
    return [node]


def _as_list(node: Any) -> list[Any]:
    return [
        item
        for branch in _branches(node)
        for item in (branch if isinstance(branch, list) else [branch])
    ]


def identity_statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(resource id, statement) for every identity-policy statement in the template."""
    found = []
    for key, resource in template.get("Resources", {}).items():
        props = resource.get("Properties", {})
        documents = []
        if resource["Type"] in IAM_TYPES_WITH_INLINE:
            documents = [p["PolicyDocument"] for p in _as_list(props.get("Policies", []))]
        elif resource["Type"] in IAM_POLICY_TYPES:
            documents = [props["PolicyDocument"]]
        for document in documents:
            for statement in _as_list(document["Statement"]):
                found.append((key, statement))
    return found


def check_statement(statement: dict[str, Any]) -> list[str]:
    """What is wrong with one statement (empty when it is least-privilege)."""
    if statement.get("Effect") != "Allow":
        return []
    problems = []
    if "NotAction" in statement or "NotResource" in statement:
        problems.append("NotAction/NotResource grants everything else")
    actions = [a for a in _as_list(statement.get("Action", [])) if isinstance(a, str)]
    for action in actions:
        if action == "*" or action.endswith(":*"):
            problems.append(f"wildcard action {action}")
    resources = _as_list(statement.get("Resource", []))
    if "*" in resources:
        extra = sorted(set(actions) - RESOURCELESS_ACTIONS)
        if extra:
            problems.append(f'Resource "*" for actions with ARNs: {extra}')
    return problems


@pytest.mark.parametrize("path", all_templates(), ids=lambda p: p.name)
def test_no_wildcard_grants(path):
    problems = [
        f"{key}: {problem}"
        for key, statement in identity_statements(load(path))
        for problem in check_statement(statement)
    ]
    assert problems == []


@pytest.mark.parametrize("path", all_templates(), ids=lambda p: p.name)
def test_no_access_keys(path):
    types = {r["Type"] for r in load(path).get("Resources", {}).values()}
    assert "AWS::IAM::AccessKey" not in types
    assert "AWS::IAM::User" not in types


def test_the_checker_catches_what_it_should():
    assert check_statement({"Effect": "Allow", "Action": "*", "Resource": "*"})
    assert check_statement({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"})
    assert check_statement({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"})
    assert check_statement({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    conditional = {"Fn::If": ["C", ["sqs:SendMessage"], {"Ref": "AWS::NoValue"}]}
    assert check_statement({"Effect": "Allow", "Action": conditional, "Resource": "*"})
    assert not check_statement(
        {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}
    )
    assert not check_statement({"Effect": "Deny", "Action": "s3:*", "Resource": "*"})


def test_each_service_role_is_scoped_to_its_own_resources():
    statements = dict.fromkeys(("PolybotInstanceRole", "WorkerInstanceRole"))
    app = load("app.yaml")
    for key in statements:
        [policy] = app["Resources"][key]["Properties"]["Policies"]
        statements[key] = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    polybot, worker = statements["PolybotInstanceRole"], statements["WorkerInstanceRole"]
    assert polybot["PutOriginals"]["Action"] == "s3:PutObject"
    assert "/originals/*" in str(polybot["PutOriginals"]["Resource"])
    assert "/predictions/*" in str(polybot["GetPredictions"]["Resource"])
    assert sorted(polybot["SendJobs"]["Action"]) == ["sqs:GetQueueAttributes", "sqs:SendMessage"]
    assert polybot["ReadBotToken"]["Action"] == "secretsmanager:GetSecretValue"
    assert "/originals/*" in str(worker["GetOriginals"]["Resource"])
    assert worker["PutPredictions"]["Action"] == "s3:PutObject"
    assert "sqs:SendMessage" not in worker["ConsumeJobs"]["Action"]
    assert sorted(worker["Predictions"]["Action"]) == ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    assert "secretsmanager" not in str(worker)
