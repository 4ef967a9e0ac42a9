"""`python -m tests.yolo5.fake_worker`: the real worker entry point with a slow fake model.

Signal tests need a job that is reliably mid-inference when the signal lands; the fake
detector writes STARTED_MARKER when a job starts and then takes FAKE_INFERENCE_SECONDS.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from tests.yolo5.conftest import FakeDetector
from yolo5.__main__ import main


class SlowDetector(FakeDetector):
    def __init__(self, marker: Path, seconds: float) -> None:
        super().__init__()
        self.marker, self.seconds = marker, seconds

    def detect(self, rgb):
        self.marker.touch()
        time.sleep(self.seconds)
        return super().detect(rgb)


if __name__ == "__main__":
    marker = Path(os.environ["STARTED_MARKER"])
    seconds = float(os.environ.get("FAKE_INFERENCE_SECONDS", "3"))
    sys.exit(main(load=lambda settings: SlowDetector(marker, seconds)))
