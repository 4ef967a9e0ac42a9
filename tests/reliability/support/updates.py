"""Raw Telegram updates for redelivery tests, built around files the emulator really stores.

Telegram redelivers the very same Update (same update_id, same file_ids) when a webhook call
fails, so to replay one a test needs real file_ids: the bot token uploads the photo once with
sendPhoto (to a scratch chat) and the returned PhotoSizes go into as many updates as needed.
"""

from __future__ import annotations

import json
import time

import requests

from local import harness
from local.config import LocalConfig
from local.telegram_emulator.client import EmulatorClient

SCRATCH_CHAT = 1


def bot_token(cfg: LocalConfig) -> str:
    """The running stack's bot token, read the way polybot reads it (its Secrets Manager)."""
    secret_id = harness.outputs(cfg)["TELEGRAM_TOKEN_SECRET_ID"]
    secrets = harness.client(cfg, "secretsmanager")
    value = secrets.get_secret_value(SecretId=secret_id)["SecretString"]
    return json.loads(value)["TELEGRAM_TOKEN"] if value.startswith("{") else value


def upload_photo(cfg: LocalConfig, token: str, data: bytes) -> list[dict]:
    """Store a photo in the emulator; returns its PhotoSizes (largest last)."""
    response = requests.post(
        f"{cfg.emulator_url}/bot{token}/sendPhoto",
        data={"chat_id": SCRATCH_CHAT},
        files={"photo": ("photo.jpg", data, "image/jpeg")},
        timeout=30,
    )
    response.raise_for_status()
    return response.json()["result"]["photo"]


def user_message(chat_id: int, message_id: int, **content) -> dict:
    return {
        "message_id": message_id,
        "from": {"id": abs(chat_id), "is_bot": False, "first_name": "Reliability"},
        "chat": {"id": chat_id, "type": "private", "first_name": "Reliability"},
        "date": int(time.time()),
        **content,
    }


def update(update_id: int, **kinds) -> dict:
    return {"update_id": update_id, **kinds}


def deliver(cfg: LocalConfig, raw: dict) -> dict:
    """Have the emulator POST this exact update to the webhook; returns its report."""
    return EmulatorClient(cfg.emulator_url).send_update(raw)
