"""The chat page: a Telegram-like window onto one chat, built on the control API."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, send_from_directory

STATIC = Path(__file__).parent / "static"

bp = Blueprint("chat", __name__, static_folder=str(STATIC), static_url_path="/static")


@bp.get("/")
def page():
    # No caching: the page is tiny and a stale copy during development only confuses.
    response = send_from_directory(STATIC, "index.html", max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/favicon.ico")
def favicon():
    return "", 204
