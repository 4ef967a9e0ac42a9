"""A Telegram Bot API emulator for local mode and tests (see DESIGN.md §3)."""

from .app import create_app

__all__ = ["create_app"]
