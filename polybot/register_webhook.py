"""`python -m polybot.register_webhook`: register polybot's webhook with Telegram, once.

Run by deployment (and by local mode's bootstrap), never by gunicorn workers, so N workers
on M instances do not race each other with setWebhook calls.
"""

from __future__ import annotations

import logging
import sys
from contextlib import ExitStack

from common.env import SettingsError
from common.jsonlog import configure_logging, event
from polybot import telegram
from polybot.clients import aws_client, load_secret
from polybot.settings import WEBHOOK_PATH, Settings
from polybot.telegram import TelegramClient, TelegramError

log = logging.getLogger(__name__)
ALLOWED_UPDATES = ["message"]


def register(
    client: TelegramClient,
    public_url: str,
    secret_token: str,
    max_connections: int,
    cert_path: str | None = None,
) -> str:
    """Call setWebhook; returns the registered URL. Raises TelegramError or OSError."""
    url = public_url.rstrip("/") + WEBHOOK_PATH
    with ExitStack() as stack:
        # A self-signed certificate must be uploaded so Telegram trusts it.
        certificate = stack.enter_context(open(cert_path, "rb")) if cert_path else None
        client.set_webhook(
            url=url,
            secret_token=secret_token,
            allowed_updates=ALLOWED_UPDATES,
            max_connections=max_connections,
            certificate=certificate,
            drop_pending_updates=False,
        )
    return url


def main() -> int:
    configure_logging("polybot-register-webhook")
    try:
        settings = Settings.from_env()
        if not settings.public_url or not settings.public_url.startswith(("https://", "http://")):
            raise SettingsError("PUBLIC_URL (the https base URL of polybot) is required")
        secret = load_secret(
            aws_client("secretsmanager", settings), settings.telegram_token_secret_id
        )
        telegram.configure_api(settings.telegram_api_url)
        client = TelegramClient(telegram.new_bot(secret.token))
        url = register(
            client,
            settings.public_url,
            secret.webhook_secret,
            settings.webhook_max_connections,
            settings.webhook_cert_path,
        )
    except SettingsError as exc:
        print(f"register_webhook: configuration error: {exc}", file=sys.stderr)
        return 2
    except (TelegramError, OSError) as exc:
        print(f"register_webhook: setWebhook failed: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - e.g. Secrets Manager errors: one clear line
        print(f"register_webhook: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    log.info("webhook registered at %s", url, extra=event("webhook.registered"))
    print(f"webhook registered at {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
