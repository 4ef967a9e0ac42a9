"""Secret parsing and the webhook secret derived from the bot token."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from common.env import SettingsError
from common.jsonlog import redact
from polybot.clients import derive_webhook_secret, load_secret, parse_secret

TOKEN = "777000:plain-secret-token-abcdefghij"


def test_plain_string_secret(aws):
    sm = aws.client("secretsmanager")
    sm.create_secret(Name="polybot/plain", SecretString=TOKEN)
    secret = load_secret(sm, "polybot/plain")
    assert secret.token == TOKEN
    expected = hmac.new(TOKEN.encode(), b"polybot-webhook-secret", hashlib.sha256).hexdigest()
    assert secret.webhook_secret == expected == derive_webhook_secret(TOKEN)


def test_json_secret_with_and_without_webhook_secret(aws):
    sm = aws.client("secretsmanager")
    sm.create_secret(Name="polybot/json", SecretString=json.dumps({"TELEGRAM_TOKEN": TOKEN}))
    arn = sm.create_secret(
        Name="polybot/json2",
        SecretString=json.dumps({"TELEGRAM_TOKEN": TOKEN, "WEBHOOK_SECRET": "explicit-secret"}),
    )["ARN"]
    assert load_secret(sm, "polybot/json").webhook_secret == derive_webhook_secret(TOKEN)
    assert load_secret(sm, arn).webhook_secret == "explicit-secret"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "no-colon-token",
        "{not json",
        '{"OTHER": "x"}',
        '["a:b"]',
        "a b:c",
        '{"TELEGRAM_TOKEN": "1:x", "WEBHOOK_SECRET": ""}',
    ],
)
def test_bad_secrets_fail_fast_without_echoing_the_value(text):
    with pytest.raises(SettingsError) as info:
        parse_secret(text)
    assert text.strip() == "" or text not in str(info.value)


def test_token_is_registered_for_redaction():
    secret = parse_secret(TOKEN)
    assert redact(f"url /bot{TOKEN}/getMe") == "url /bot***/getMe"
    assert TOKEN not in repr(secret)
