"""`python -m yolo5`: run the worker until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import os
import sys

from common.env import SettingsError
from yolo5.backends import load_detector
from yolo5.bootstrap import build_worker, configure
from yolo5.settings import Settings
from yolo5.weights import WeightsError


def main(load=load_detector) -> int:
    """Run until stopped; `load` builds the detector from settings (tests pass a fake)."""
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"yolo5: bad configuration: {exc}", file=sys.stderr)
        return 2
    configure(settings)
    try:
        detector = load(settings)
    except WeightsError as exc:
        logging.getLogger("yolo5").critical("no trusted model: %s", exc)
        return 3
    worker = build_worker(settings, detector)
    worker.work()
    if worker.forced:
        # Forced stop: in-flight messages are already released; don't wait for I/O threads.
        logging.shutdown()
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
