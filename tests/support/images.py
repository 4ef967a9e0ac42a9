"""Real sample photos and the shared real weights."""

from __future__ import annotations

from pathlib import Path

from local.samples import sample_image

SHARED_WEIGHTS = Path(__file__).resolve().parents[3] / "shared" / "models" / "yolov5n.pt"

__all__ = ["SHARED_WEIGHTS", "sample_image"]
