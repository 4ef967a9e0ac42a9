"""polybot's application factory: gunicorn runs "polybot.app:create_app()".

Nothing happens at import time. Each gunicorn worker builds its settings and clients once
(reading the bot token from Secrets Manager); tests pass their own.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from common.jsonlog import configure_logging, event
from polybot import deps, health, results, versions, webhook
from polybot.clients import Clients, build_clients
from polybot.settings import Settings

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, clients: Clients | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    # Updates are small; a huge body is refused (413) before anyone parses it.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_update_bytes
    app.json.sort_keys = False
    if clients is None:
        configure_logging("polybot", settings.log_level)
        clients = build_clients(settings)
    configure_logging("polybot", settings.log_level, settings.log_group, clients.logs)
    deps.init_app(app, settings, clients)
    versions.init_app(app)
    app.register_blueprint(webhook.bp)
    app.register_blueprint(results.bp)
    app.register_blueprint(health.bp)
    app.register_error_handler(HTTPException, _json_error)
    # Once per gunicorn worker: which commit serves, in the first line a log search finds.
    log.info(
        "polybot %s started", settings.version, extra=event("app.started", version=settings.version)
    )
    return app


def _json_error(exc: HTTPException):
    # JSON for every error; never echo the request (it may carry a secret header or body).
    return jsonify(error=exc.name), exc.code
