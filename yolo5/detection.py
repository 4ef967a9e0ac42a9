"""What both detector backends share: the Detection they return, their base class, and the
helpers that make their results the same (tests/yolo5/test_backends.py compares them).

The torch reference backend is yolo5/torch_detector.py, the production ONNX Runtime backend
yolo5/onnx_detector.py; yolo5/backends.py picks one from the settings, whose defaults (image
size, thresholds, one intra-op thread) are the only ones: a backend built without them gets
the same values.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from common.contracts import counts_of
from common.jsonlog import event
from yolo5.annotate import annotated_jpeg
from yolo5.settings import Settings

# AutoShape reads arrays with a first axis shorter than this as channels-first (see hwc_safe).
MIN_MODEL_HEIGHT = 5


@dataclass(frozen=True)
class Detection:
    labels: list[dict]  # [{"class": str, "confidence": float, "bbox": [x1, y1, x2, y2]}]
    counts: dict[str, int]
    inference_ms: float
    rgb: np.ndarray = field(repr=False)  # the photo the labels were found on
    # This thread's CPU time in detect() (letterbox, forward, NMS): beside inference_ms (wall),
    # it shows whether the model waits for the GIL or a core while the worker's I/O runs.
    inference_cpu_ms: float

    @cached_property
    def annotated_jpeg(self) -> bytes:
        """Drawn on first use, which is on an I/O thread: the model's thread has moved on."""
        return annotated_jpeg(self.rgb, self.labels)


class BaseDetector(ABC):
    """What both backends (torch_detector.Detector, OnnxDetector) share: how they are
    configured and how they warm up. A backend opens its model in _load and runs it in
    detect."""

    def __init__(
        self,
        model: Path,
        model_name: str,
        img_size: int = Settings.img_size,
        conf: float = Settings.conf,
        iou: float = Settings.iou,
        threads: int = Settings.threads,
    ) -> None:
        self.model_name = model_name
        self.img_size = img_size
        self._load(model, conf, iou, threads)

    @abstractmethod
    def _load(self, model: Path, conf: float, iou: float, threads: int) -> None: ...

    @abstractmethod
    def detect(self, rgb: np.ndarray) -> Detection: ...

    def warm_up(self) -> None:
        """Run once on a blank image so the first real job doesn't pay for lazy init."""
        started = time.perf_counter()
        self.detect(np.zeros((self.img_size, self.img_size, 3), dtype=np.uint8))
        # Under the backend's own logger (yolo5.torch_detector or yolo5.onnx_detector).
        logging.getLogger(type(self).__module__).info(
            "model warm", extra=event("model.warm", timings={"warmup_ms": ms_since(started)})
        )


def detection_from(
    rows: list[list[float]],
    names: dict[int, str],
    rgb: np.ndarray,
    inference_ms: float,
    inference_cpu_ms: float,
) -> Detection:
    """Rows of [x1, y1, x2, y2, confidence, class] in the photo's pixels, best first."""
    height, width = rgb.shape[:2]
    labels = []
    for *box, confidence, cls in rows:
        x1, y1, x2, y2 = (round(v) for v in box)
        labels.append(
            {
                "class": names[int(cls)],
                "confidence": round(float(confidence), 4),
                "bbox": [max(0, x1), max(0, y1), min(width, x2), min(height, y2)],
            }
        )
    return Detection(labels, counts_of(labels), inference_ms, rgb, inference_cpu_ms)


def hwc_safe(rgb: np.ndarray) -> np.ndarray:
    """YOLOv5's AutoShape takes an array whose first axis is shorter than 5 for channels-first
    and transposes it, which breaks on a 1-4 pixel tall image (a 1x1 photo crashed inference).
    Padding such an image at the bottom keeps it height-first; boxes keep their coordinates.
    """
    short = MIN_MODEL_HEIGHT - rgb.shape[0]
    return rgb if short <= 0 else np.pad(rgb, ((0, short), (0, 0), (0, 0)))


def ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def cpu_ms_since(started: float) -> float:
    """This thread's CPU milliseconds since `started` (a time.thread_time() reading)."""
    return round((time.thread_time() - started) * 1000, 1)
