"""Real sample photos, and the real weights found the way the worker finds them."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from local.samples import sample_image
from yolo5.weights import Source, WeightsError


@functools.cache
def _find_real_weights() -> Path | str:
    """YOLO_WEIGHTS, else the cache, else the pinned download: once per test session."""
    try:
        return Source.from_env().resolve()
    except WeightsError as err:
        return str(err)


def real_weights() -> Path:
    """The verified yolov5n checkpoint; skips the calling test, with the reason, if none can be
    had (no YOLO_WEIGHTS, nothing cached, no network). CI passes one in through YOLO_WEIGHTS."""
    found = _find_real_weights()
    if isinstance(found, str):
        pytest.skip(f"no real YOLOv5 weights (set YOLO_WEIGHTS or allow the download): {found}")
    return found


__all__ = ["real_weights", "sample_image"]
