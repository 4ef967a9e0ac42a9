"""Everything polybot talks to, created once per process and passed in.

The bot token is read from Secrets Manager (a plain string or JSON {"TELEGRAM_TOKEN": ...,
optional "WEBHOOK_SECRET": ...}) and registered with the log redactor before anything else
can log it. A missing or malformed secret stops the service at start-up.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from common.env import SettingsError
from common.jsonlog import register_secret
from polybot import telegram
from polybot.settings import Settings

# Short timeouts: a webhook call must answer Telegram well within its own timeout, and a
# non-2xx answer is safe (Telegram redelivers).
AWS_CONFIG = Config(
    connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3}
)
WEBHOOK_SECRET_SALT = b"polybot-webhook-secret"


@dataclass(frozen=True)
class BotSecret:
    token: str
    webhook_secret: str

    def __repr__(self) -> str:  # never print the token, even in a debugger dump
        return "BotSecret(token=***, webhook_secret=***)"


@dataclass(frozen=True)
class Clients:
    s3: Any
    sqs: Any
    table: Any  # boto3 DynamoDB Table resource for PREDICTIONS_TABLE
    telegram: telegram.TelegramClient
    webhook_secret: str
    logs: Any = None


def derive_webhook_secret(token: str) -> str:
    """Every instance derives the same secret from the token, so no extra secret is needed."""
    return hmac.new(token.encode(), WEBHOOK_SECRET_SALT, hashlib.sha256).hexdigest()


def parse_secret(secret_string: str) -> BotSecret:
    text = (secret_string or "").strip()
    token, webhook_secret = text, None
    if text.startswith(("{", "[", '"')):  # JSON-looking: must be the documented object
        try:
            data = json.loads(text)
        except ValueError:
            raise SettingsError("the bot token secret is neither a token nor valid JSON") from None
        token = data.get("TELEGRAM_TOKEN") if isinstance(data, dict) else None
        webhook_secret = data.get("WEBHOOK_SECRET") if isinstance(data, dict) else None
    if not isinstance(token, str) or ":" not in token or any(c.isspace() for c in token):
        raise SettingsError("the bot token secret holds no valid TELEGRAM_TOKEN")
    if webhook_secret is not None and (not isinstance(webhook_secret, str) or not webhook_secret):
        raise SettingsError("WEBHOOK_SECRET in the bot token secret must be a non-empty string")
    secret = BotSecret(token, webhook_secret or derive_webhook_secret(token))
    register_secret(secret.token)
    register_secret(secret.webhook_secret)
    return secret


def load_secret(secretsmanager: Any, secret_id: str) -> BotSecret:
    response = secretsmanager.get_secret_value(SecretId=secret_id)
    return parse_secret(response.get("SecretString", ""))


def aws_client(service: str, settings: Settings) -> Any:
    # AWS_ENDPOINT_URL (boto3's own variable) points these at moto in local mode.
    return boto3.client(service, region_name=settings.aws_region, config=AWS_CONFIG)


def build_clients(settings: Settings) -> Clients:
    secret = load_secret(aws_client("secretsmanager", settings), settings.telegram_token_secret_id)
    telegram.configure_api(settings.telegram_api_url)
    dynamodb = boto3.resource("dynamodb", region_name=settings.aws_region, config=AWS_CONFIG)
    return Clients(
        s3=aws_client("s3", settings),
        sqs=aws_client("sqs", settings),
        table=dynamodb.Table(settings.predictions_table),
        telegram=telegram.TelegramClient(telegram.new_bot(secret.token)),
        webhook_secret=secret.webhook_secret,
        logs=aws_client("logs", settings) if settings.log_group else None,
    )
