"""The torch reference backend: YOLOv5, loaded once per process from a verified checkpoint,
through the yolov5 package's AutoShape, run on RGB arrays.

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
from pathlib import Path

import numpy as np

from common.jsonlog import event
from yolo5.detection import (
    BaseDetector,
    Detection,
    cpu_ms_since,
    detection_from,
    hwc_safe,
    ms_since,
)
from yolo5.weights import verify

logger = logging.getLogger(__name__)


class Detector(BaseDetector):
    """Owns the model. Call detect() from one thread only (the worker's main thread)."""

    def _load(self, model: Path, conf: float, iou: float, threads: int) -> None:
        self._model = _load(model, conf, iou, threads)

    def detect(self, rgb: np.ndarray) -> Detection:
        started, cpu = time.perf_counter(), time.thread_time()
        results = self._model(hwc_safe(rgb), size=self.img_size)
        rows = results.xyxy[0].tolist()
        return detection_from(rows, results.names, rgb, ms_since(started), cpu_ms_since(cpu))


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
        extra=event("model.loaded", file=weights.name, timings={"load_ms": ms_since(started)}),
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
