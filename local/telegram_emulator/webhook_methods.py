"""setWebhook, deleteWebhook, getWebhookInfo: what the emulator delivers updates to."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from .params import bad_request, int_param, json_param
from .state import Webhook

_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def set_webhook(state, params, files, bot_id):
    url = params.get("url") or ""
    if not url:
        state.set_webhook(None)
        return True
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    secret = params.get("secret_token") or None
    if secret is not None and not _SECRET_TOKEN.match(secret):
        raise bad_request("secret token contains unallowed characters")
    allowed = json_param(params, "allowed_updates") or []
    if not isinstance(allowed, list) or not all(isinstance(kind, str) for kind in allowed):
        raise bad_request("can't parse allowed_updates JSON array")
    max_connections = int_param(
        {"max_connections": params.get("max_connections") or 40},
        "max_connections",
        "max_connections is empty",
    )
    if not 1 <= max_connections <= 100:
        raise bad_request("bad webhook: max_connections must be between 1 and 100")
    upload = files.get("certificate")
    state.set_webhook(
        Webhook(
            url=url,
            secret_token=secret,
            allowed_updates=tuple(allowed),
            max_connections=max_connections,
            certificate=upload.read() if upload else None,
            ip_address=params.get("ip_address") or None,
        )
    )
    return True


def delete_webhook(state, params, files, bot_id):
    state.set_webhook(None)
    return True


def get_webhook_info(state, params, files, bot_id):
    webhook = state.webhook
    info: dict = {
        "url": webhook.url if webhook else "",
        "pending_update_count": 0,
        "has_custom_certificate": bool(webhook and webhook.certificate),
    }
    if webhook:
        info["max_connections"] = webhook.max_connections
        if webhook.allowed_updates:
            info["allowed_updates"] = list(webhook.allowed_updates)
        if webhook.ip_address:
            info["ip_address"] = webhook.ip_address
        last_error = state.last_delivery_error()
        if last_error:
            info["last_error_date"], info["last_error_message"] = last_error
    return info
