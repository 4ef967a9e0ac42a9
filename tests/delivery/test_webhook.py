"""Webhook registration through SSM Run Command: success, a failed command, a slow start."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from delivery.fleets import SwitchError
from delivery.webhook import COMMAND, register_via_ssm

INSTANCE = "i-0123456789abcdef0"


@pytest.fixture
def ssm():
    client = boto3.client("ssm", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response(
            "send_command",
            {"Command": {"CommandId": "4a1d9f2e-7c3b-4e8a-9f61-2b5d8c0e1a37"}},
            {
                "InstanceIds": [INSTANCE],
                "DocumentName": "AWS-RunShellScript",
                "Comment": "polybot: register the Telegram webhook after a deployment",
                "Parameters": {"commands": [COMMAND]},
                "TimeoutSeconds": 300,
            },
        )
        yield client, stub


def test_waits_for_the_invocation_to_appear_and_succeed(ssm):
    client, stub = ssm
    stub.add_client_error("get_command_invocation", service_error_code="InvocationDoesNotExist")
    stub.add_response("get_command_invocation", {"Status": "InProgress"})
    stub.add_response("get_command_invocation", {"Status": "Success"})
    slept = []

    register_via_ssm(client, INSTANCE, sleep=slept.append)

    assert len(slept) == 2
    stub.assert_no_pending_responses()


def test_a_failed_registration_fails_with_its_output(ssm):
    client, stub = ssm
    stub.add_response(
        "get_command_invocation",
        {"Status": "Failed", "StandardErrorContent": "setWebhook: 401 Unauthorized"},
    )

    with pytest.raises(SwitchError, match="401 Unauthorized"):
        register_via_ssm(client, INSTANCE, sleep=lambda _: None)


def test_other_ssm_errors_are_not_swallowed(ssm):
    client, stub = ssm
    stub.add_client_error("get_command_invocation", service_error_code="InvalidInstanceId")

    with pytest.raises(client.exceptions.ClientError):
        register_via_ssm(client, INSTANCE, sleep=lambda _: None)
