"""What /version answers: polybot's own commit, and the build of the worker that finished the
last item /results answered.

The worker's side is kept in memory, per process: each gunicorn worker (on each instance)
remembers the last item it answered itself, so two /version calls may be answered by
processes that saw different items, or none yet. That is enough for what /version is for
(showing, right after a push, which release answers photos) and costs no read or table.
"""

from __future__ import annotations

import threading

from flask import Flask, current_app

from common.contracts import WorkerBuild

_KEY = "polybot.versions"


class LastWorker:
    """The build named by the last answered item; None until one is answered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # gunicorn's threads answer /results concurrently
        self._build: WorkerBuild | None = None

    def saw(self, build: WorkerBuild | None) -> None:
        """An item was answered. One that names no build (finished by a worker from before
        the stamp) leaves what is known."""
        if build is None:
            return
        with self._lock:
            self._build = build

    @property
    def build(self) -> WorkerBuild | None:
        with self._lock:
            return self._build


def init_app(app: Flask) -> None:
    app.extensions[_KEY] = LastWorker()


def last_worker() -> LastWorker:
    return current_app.extensions[_KEY]
