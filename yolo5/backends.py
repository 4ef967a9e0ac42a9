"""The detector the worker runs (YOLO_BACKEND), and where its model file comes from."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Protocol

import numpy as np

from common.jsonlog import event
from yolo5.detection import Detection
from yolo5.onnx_detector import OnnxDetector, verified
from yolo5.settings import Settings
from yolo5.torch_detector import Detector
from yolo5.weights import WeightsError, sha256_of

logger = logging.getLogger(__name__)
EXPORT_TIMEOUT_SECONDS = 600


class ObjectDetector(Protocol):
    """What the worker needs of a backend; Detector and OnnxDetector both are one."""

    model_name: str

    def warm_up(self) -> None: ...

    def detect(self, rgb: np.ndarray) -> Detection: ...


def load_detector(settings: Settings) -> ObjectDetector:
    """The model of the configured backend, loaded once and warm."""
    detector: ObjectDetector
    tuning = (settings.img_size, settings.conf, settings.iou, settings.threads)
    if settings.backend == "torch":
        try:
            detector = Detector(settings.source.resolve(), settings.model_name, *tuning)
        except ImportError as err:  # the image's run-time stage has no torch, by design
            raise WeightsError(f"YOLO_BACKEND=torch needs torch and yolov5: {err}") from err
    else:
        detector = OnnxDetector(onnx_model(settings), settings.model_name, *tuning)
    detector.warm_up()
    return detector


def onnx_model(settings: Settings) -> Path:
    """YOLO_ONNX wins (the image sets it: exported at build time). Else the export of the
    verified checkpoint in the cache."""
    if settings.onnx_model is not None:
        return settings.onnx_model
    return exported(settings.source.resolve(), settings.cache_dir, settings.model_name)


def exported(weights: Path, cache_dir: Path, model_name: str) -> Path:
    """The checkpoint's ONNX export in the cache, keyed by the checkpoint's sha256. Made on
    first use by `python -m yolo5.export` in a process of its own, so that this one never
    imports torch (a worker's memory stays small)."""
    target = cache_dir / f"{model_name}-{sha256_of(weights)[:12]}.onnx"
    try:
        return verified(target)
    except WeightsError:
        logger.info("exporting %s to %s", weights.name, target, extra=event("model.exporting"))
    command = [
        sys.executable,
        "-m",
        "yolo5.export",
        "--weights",
        str(weights),
        "--out",
        str(target),
    ]
    try:
        subprocess.run(command, check=True, timeout=EXPORT_TIMEOUT_SECONDS)  # noqa: S603
    except (subprocess.SubprocessError, OSError) as err:
        raise WeightsError(f"could not export {weights} to ONNX: {err}") from err
    return verified(target)
