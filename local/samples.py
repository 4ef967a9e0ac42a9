"""The sample photos that ship inside the yolov5 package (bus.jpg, zidane.jpg)."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def sample_image(name: str) -> Path:
    """Find a sample photo without importing yolov5 (which would import torch)."""
    spec = importlib.util.find_spec("yolov5")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the yolov5 package is not installed (run make venv)")
    path = Path(spec.origin).parent / "data" / "images" / name
    if not path.is_file():
        raise FileNotFoundError(path)
    return path
