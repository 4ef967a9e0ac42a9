"""A Telegram Bot API emulator for local mode and tests (see docs/local-mode.md).

Bot API: /bot<token>/<method> (getMe, setWebhook, deleteWebhook, getWebhookInfo, getFile,
sendMessage, sendPhoto, sendDocument, sendChatAction) and /file/bot<token>/<file_path>, with
Telegram's envelopes, limits and error wording (the documented limits on what a bot sends:
see methods.py). Control API under /emulator/ (no auth: loopback only):
chats/<id>/photo|document|text, updates, chats/<id>/messages, files/<file_id>, webhook,
deliveries, faults (POST arms, DELETE clears), reset. Reset forgets chats, files, messages,
faults and delivery stats but keeps the webhook and never reuses an update_id or message_id.
Updates are delivered synchronously and never redelivered: the control call answers with
the webhook's status (null when there is no webhook, it is filtered by allowed_updates, or
the connection failed, with the reason in "webhook_error"). client.py is the control API's
one client.
"""

__all__ = ["create_app"]


def __getattr__(name: str):
    # The server (Flask) is imported on first use, not with the package: client.py, which
    # tooling imports with only `requests` installed, lives in this package too.
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
