"""POSTing an Update to the registered webhook, as Telegram does.

http.client rather than a higher-level client: Telegram follows no redirects and uses no
proxy, and the emulator should not either. Delivery is synchronous so the control API can
answer with the webhook's HTTP status; the emulator does not redeliver on failure (tests do
that explicitly by posting the same update again).
"""

from __future__ import annotations

import http.client
import json
import logging
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from common.jsonlog import log_context

from .state import EmulatorState, Webhook

log = logging.getLogger(__name__)

DELIVERY_TIMEOUT_SECONDS = 60.0
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name, not a secret


@dataclass(frozen=True)
class DeliveryResult:
    status: int | None  # None: no webhook, filtered out, or the connection failed
    error: str | None = None


def _update_kind(update: dict) -> str | None:
    return next((key for key in update if key != "update_id"), None)


def _connection(webhook: Webhook, parts) -> http.client.HTTPConnection:
    port = parts.port
    if parts.scheme == "https":
        # A self-signed certificate uploaded with setWebhook is the one to trust.
        context = ssl.create_default_context(
            cadata=webhook.certificate.decode("ascii", "replace") if webhook.certificate else None
        )
        return http.client.HTTPSConnection(
            parts.hostname, port, timeout=DELIVERY_TIMEOUT_SECONDS, context=context
        )
    return http.client.HTTPConnection(parts.hostname, port, timeout=DELIVERY_TIMEOUT_SECONDS)


def _post(webhook: Webhook, body: bytes) -> int:
    parts = urlsplit(webhook.url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    if webhook.secret_token:
        headers[SECRET_HEADER] = webhook.secret_token
    conn = _connection(webhook, parts)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def deliver(state: EmulatorState, update: dict) -> DeliveryResult:
    update_id = update.get("update_id")
    webhook, slots = state.delivery_target()
    if webhook is None or slots is None:
        log.info("no webhook registered; update not delivered")
        return DeliveryResult(None, "no webhook is set")
    kind = _update_kind(update)
    if webhook.allowed_updates and kind not in webhook.allowed_updates:
        log.info("update of kind %s filtered out by allowed_updates", kind)
        return DeliveryResult(None, f"{kind} is not in allowed_updates")
    body = json.dumps(update, ensure_ascii=False).encode("utf-8")
    started = time.monotonic()
    status: int | None = None
    error: str | None = None
    with log_context(update_id=update_id), slots:
        try:
            status = _post(webhook, body)
        except (OSError, http.client.HTTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"
        elapsed_ms = (time.monotonic() - started) * 1000
        state.record_delivery(update_id, status, elapsed_ms, error)
        if error:
            log.warning("webhook delivery failed after %.0f ms: %s", elapsed_ms, error)
        else:
            log.info("webhook answered %s in %.0f ms", status, elapsed_ms)
    return DeliveryResult(status, error)
