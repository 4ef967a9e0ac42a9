"""YOLOv5, loaded once per process from a verified checkpoint, run on RGB arrays.

The yolov5 package imports ultralytics, which by default pip-installs missing packages at
run time (and yolov5 has its own switch for the same). A worker must never change its own
environment, so both switches are turned off in os.environ *before* the first import: the
packages read them at import time. Image decoding stays in yolo5.images (we hand the model
arrays), so ultralytics' patched Image.open never sees untrusted bytes.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from common.contracts import counts_of
from common.jsonlog import event
from yolo5.annotate import annotated_jpeg
from yolo5.weights import verify

# AutoShape reads arrays with a first axis shorter than this as channels-first (see _hwc_safe).
MIN_MODEL_HEIGHT = 5

logger = logging.getLogger(__name__)


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
    """What both backends (Detector, OnnxDetector) share: how they are configured and how they
    warm up. A backend opens its model in _load and runs it in detect."""

    def __init__(
        self,
        model: Path,
        model_name: str,
        img_size: int = 640,
        conf: float = 0.25,
        iou: float = 0.45,
        threads: int = 0,
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
        # Under the backend's own logger (yolo5.detector or yolo5.onnx_detector).
        logging.getLogger(type(self).__module__).info(
            "model warm", extra=event("model.warm", timings={"warmup_ms": _ms_since(started)})
        )


class Detector(BaseDetector):
    """Owns the model. Call detect() from one thread only (the worker's main thread)."""

    def _load(self, model: Path, conf: float, iou: float, threads: int) -> None:
        self._model = _load(model, conf, iou, threads)

    def detect(self, rgb: np.ndarray) -> Detection:
        started, cpu = time.perf_counter(), time.thread_time()
        results = self._model(_hwc_safe(rgb), size=self.img_size)
        rows = results.xyxy[0].tolist()
        return detection_from(rows, results.names, rgb, _ms_since(started), _cpu_ms_since(cpu))


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


def _hwc_safe(rgb: np.ndarray) -> np.ndarray:
    """YOLOv5's AutoShape takes an array whose first axis is shorter than 5 for channels-first
    and transposes it, which breaks on a 1-4 pixel tall image (a 1x1 photo crashed inference).
    Padding such an image at the bottom keeps it height-first; boxes keep their coordinates.
    """
    short = MIN_MODEL_HEIGHT - rgb.shape[0]
    return rgb if short <= 0 else np.pad(rgb, ((0, short), (0, 0), (0, 0)))


def load_model(weights: Path):
    """(torch, the checkpoint's model fused for inference); the file is verified first."""
    verify(weights)  # the checkpoint is a pickle: never unpickle an unverified file
    torch, _ = _import_yolov5()
    # weights_only=False is safe only because verify() matched the pinned sha256 above.
    checkpoint = torch.load(weights, map_location="cpu", weights_only=False)
    model = (checkpoint.get("ema") or checkpoint["model"]).float().fuse().eval()
    if isinstance(model.names, list | tuple):
        model.names = dict(enumerate(model.names))
    return torch, model


def _load(weights: Path, conf: float, iou: float, torch_threads: int):
    started = time.perf_counter()
    torch, model = load_model(weights)
    if torch_threads > 0:
        torch.set_num_threads(torch_threads)
    _, auto_shape = _import_yolov5()
    wrapped = auto_shape(model)
    wrapped.conf = conf
    wrapped.iou = iou
    logger.info(
        "model loaded from %s",
        weights.name,
        extra=event("model.loaded", file=weights.name, timings={"load_ms": _ms_since(started)}),
    )
    return wrapped


def _import_yolov5():
    """Import torch and yolov5 with their side effects contained; returns (torch, AutoShape)."""
    os.environ["YOLO_AUTOINSTALL"] = "false"
    os.environ["YOLOv5_AUTOINSTALL"] = "false"  # noqa: SIM112 - yolov5 spells it this way
    import torch
    from PIL import Image

    # ultralytics (imported by yolov5) replaces PIL.Image.open process-wide with a wrapper that,
    # on bytes Pillow can't identify, tries to pip-install a HEIF plugin and then raises
    # ModuleNotFoundError. Keep Pillow's own opener and put it back after the imports, so that
    # yolo5.images keeps answering "not an image" (a permanent failure) for such bytes.
    pillow_open = Image.open
    # yolov5 7.0.14 warns about APIs of its own dependencies (pkg_resources, torch.cuda.amp) on
    # import and on every first call; nothing for us to act on, so keep them out of the logs.
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"yolov5\.")
    # Importing yolov5.models.yolo puts yolov5's directory on sys.path, which the checkpoint's
    # pickled class paths ("models.yolo.DetectionModel") need.
    import yolov5.models.yolo  # noqa: F401
    from yolov5.models.common import AutoShape

    if getattr(pillow_open, "__module__", None) == Image.__name__:
        Image.open = pillow_open

    # yolov5 installs its own plain-text stderr handler; route its records through ours (JSON).
    yolov5_logger = logging.getLogger("yolov5")
    yolov5_logger.handlers.clear()
    yolov5_logger.propagate = True
    yolov5_logger.setLevel(logging.WARNING)
    return torch, AutoShape


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _cpu_ms_since(started: float) -> float:
    """This thread's CPU milliseconds since `started` (a time.thread_time() reading)."""
    return round((time.thread_time() - started) * 1000, 1)
