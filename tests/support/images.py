"""Real sample photos: the ones that ship inside the yolov5 package."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SHARED_WEIGHTS = Path(__file__).resolve().parents[3] / "shared" / "models" / "yolov5n.pt"


def sample_image(name: str) -> Path:
    """bus.jpg or zidane.jpg, found without importing yolov5 (which imports torch)."""
    spec = importlib.util.find_spec("yolov5")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the yolov5 package is not installed")
    path = Path(spec.origin).parent / "data" / "images" / name
    if not path.is_file():
        raise FileNotFoundError(path)
    return path
