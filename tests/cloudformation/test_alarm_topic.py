"""The alarm topic is encrypted with a key CloudWatch alarms may use, so alarm e-mails arrive.

SNS developer guide, "Key management" > "Enable compatibility between event sources from AWS
services and encrypted topics": CloudWatch cannot publish to a topic under the AWS managed key
alias/aws/sns; the topic needs a customer managed key whose policy lets
cloudwatch.amazonaws.com use kms:Decrypt and kms:GenerateDataKey*.
"""

from __future__ import annotations

import fnmatch
import json
import re
from typing import Any

import pytest

from tests.cloudformation.templates import (
    TEMPLATE_DIR,
    MotoStacks,
    load,
    resources_of_type,
)

# Values for the pseudo parameters and parameters the template's Fn::Sub strings name.
NAMES = {
    "AWS::Partition": "aws",
    "AWS::Region": "ap-southeast-2",
    "AWS::AccountId": "123456789012",
    "Prefix": "polybot",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load("observability.yaml")


@pytest.fixture(scope="module")
def topic(template) -> dict[str, Any]:
    [topic] = resources_of_type(template, "AWS::SNS::Topic").values()
    return topic


def _key_of(topic: dict[str, Any]) -> str:
    """The logical id of the template resource the topic's KmsMasterKeyId refers to."""
    key_id = topic["Properties"]["KmsMasterKeyId"]
    assert isinstance(key_id, dict), f"KmsMasterKeyId is a literal: {key_id!r}"
    if "Ref" in key_id:
        return key_id["Ref"]
    [name, attribute] = key_id["Fn::GetAtt"]
    assert attribute in ("Arn", "KeyId")
    return name


def _sub(value: Any, **names: str) -> str:
    """A plain or Fn::Sub string with ${Name} replaced from names."""
    text = value["Fn::Sub"] if isinstance(value, dict) else value
    assert isinstance(text, str), value
    return re.sub(r"\$\{([^}]+)\}", lambda m: names[m.group(1)], text)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _cloudwatch_statement(key: dict[str, Any]) -> dict[str, Any]:
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    found = [
        s
        for s in statements
        if s.get("Effect") == "Allow"
        and "cloudwatch.amazonaws.com" in _as_list(s.get("Principal", {}).get("Service", []))
    ]
    assert len(found) == 1, statements
    return found[0]


def test_topic_is_not_under_an_aws_managed_key(topic):
    key_id = topic["Properties"]["KmsMasterKeyId"]
    assert not (isinstance(key_id, str) and key_id.startswith("alias/aws/")), key_id


def test_topic_key_is_a_customer_managed_key_in_this_template(template, topic):
    key = template["Resources"][_key_of(topic)]
    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"]["EnableKeyRotation"] is True
    # Created exactly when the topic is (only with an alarm e-mail).
    assert key.get("Condition") == topic.get("Condition") == "HasAlarmEmail"


def test_key_policy_keeps_the_account_as_administrator(template, topic):
    # As AWS KMS's default key policy: the account, through IAM, may do anything with the key.
    statements = template["Resources"][_key_of(topic)]["Properties"]["KeyPolicy"]["Statement"]
    root = [
        s
        for s in statements
        if s.get("Effect") == "Allow"
        and "AWS" in s.get("Principal", {})
        and _sub(s["Principal"]["AWS"], **NAMES) == "arn:aws:iam::123456789012:root"
    ]
    assert len(root) == 1 and root[0]["Action"] == "kms:*", statements


def test_key_policy_admits_cloudwatch_for_this_accounts_alarms(template, topic):
    statement = _cloudwatch_statement(template["Resources"][_key_of(topic)])
    assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(_as_list(statement["Action"]))
    assert statement["Resource"] == "*"
    conditions = statement["Condition"]
    assert conditions["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    pattern = _sub(conditions["ArnLike"]["aws:SourceArn"], **NAMES)
    assert pattern.startswith("arn:aws:cloudwatch:ap-southeast-2:123456789012:alarm:")
    # Every alarm of the stack matches the condition, so each can publish to the topic.
    alarms = resources_of_type(template, "AWS::CloudWatch::Alarm")
    assert alarms
    for key, alarm in alarms.items():
        arn = "arn:aws:cloudwatch:ap-southeast-2:123456789012:alarm:" + _sub(
            alarm["Properties"]["AlarmName"], **NAMES
        )
        assert fnmatch.fnmatchcase(arn, pattern), f"{key}: {arn} !~ {pattern}"


def test_deploys_into_moto_with_an_alarm_email(moto_server):
    """The e-mail branch (key and topic) deploys; the suite's full deploy sets no e-mail."""
    stacks = MotoStacks(moto_server)
    # A stand-in for the data and app stacks: exports every name the template imports.
    text = (TEMPLATE_DIR / "observability.yaml").read_text()
    imported = sorted(set(re.findall(r"\$\{(DataStackName|AppStackName)\}-(\w+)", text)))
    given = {"DataStackName": stacks.stack_name("data"), "AppStackName": stacks.stack_name("app")}
    exporter = {
        "Resources": {"Placeholder": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            f"Export{i}": {
                "Value": "arn:aws:elasticloadbalancing:loadbalancer/app/x/1",
                "Export": {"Name": f"{given[stack]}-{name}"},
            }
            for i, (stack, name) in enumerate(imported)
        },
    }
    cloudformation = stacks.cloudformation
    cloudformation.create_stack(
        StackName=stacks.stack_name("exports"), TemplateBody=json.dumps(exporter)
    )
    out = stacks.deploy(
        "observability", "observability.yaml", AlarmEmail="ops@example.com", **given
    )

    topic = stacks.client("sns").get_topic_attributes(TopicArn=out["AlarmTopicArn"])
    key_arn = topic["Attributes"]["KmsMasterKeyId"]
    assert re.fullmatch(r"arn:aws:kms:us-east-1:\d{12}:key/[-0-9a-f]+", key_arn), key_arn
    # moto keeps a CloudFormation key's policy unserialised, so describe_key fails; list it.
    keys = stacks.client("kms").list_keys()["Keys"]
    assert key_arn in [k["KeyArn"] for k in keys]
    resources = cloudformation.describe_stack_resources(
        StackName=stacks.stack_name("observability")
    )
    kinds = [r.get("ResourceType") for r in resources["StackResources"]]
    assert kinds.count("AWS::KMS::Key") == 1, kinds
