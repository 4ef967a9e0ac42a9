"""The Telegram Bot API emulator's application factory."""

from __future__ import annotations

import re

from flask import Flask

from common.jsonlog import register_secret

from . import botapi, chat, control
from .state import EmulatorState

# Telegram tokens are "<bot id>:<secret part>"; getMe answers with that bot id.
_TOKEN = re.compile(r"^(\d{1,20}):[A-Za-z0-9_-]{8,}$")
# Bigger than Telegram's 20 MB download limit, so tests can send a file that is too big.
MAX_REQUEST_BYTES = 64 * 1024 * 1024


def create_app(token: str) -> Flask:
    match = _TOKEN.match(token or "")
    if match is None:
        # Never echo the token: this message may end up in a log.
        raise ValueError("the emulator token must look like '<digits>:<letters, digits, _ or ->'")
    register_secret(token)
    app = Flask(__name__)
    app.config.update(
        EMULATOR_TOKEN=token,
        EMULATOR_BOT_ID=int(match.group(1)),
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
    )
    app.json.sort_keys = False
    app.extensions["telegram_emulator"] = EmulatorState()
    app.register_blueprint(botapi.bp)
    app.register_blueprint(control.bp)
    app.register_blueprint(chat.bp)
    return app
