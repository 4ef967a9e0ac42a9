"""Where request handlers find the settings and clients create_app was given."""

from __future__ import annotations

from flask import Flask, current_app

from polybot.clients import Clients
from polybot.settings import Settings

_KEY = "polybot"


def init_app(app: Flask, settings: Settings, clients: Clients) -> None:
    app.extensions[_KEY] = {"settings": settings, "clients": clients}


def settings() -> Settings:
    return current_app.extensions[_KEY]["settings"]


def clients() -> Clients:
    return current_app.extensions[_KEY]["clients"]
