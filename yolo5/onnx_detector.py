"""YOLOv5 on ONNX Runtime: the exported model (yolo5/export.py) with numpy/OpenCV around it.

No torch at run time. Each step does what torch's AutoShape and yolov5's non_max_suppression
do, so both backends find the same objects (tests/yolo5/test_backends.py compares them):
the rectangular stride-32 letterbox, objectness and class confidence, class-aware NMS, and
boxes scaled back to the photo. onnxruntime releases the GIL while it runs, so the worker's
I/O threads keep working during inference.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from pathlib import Path

import cv2
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
from yolo5.weights import WeightsError

logger = logging.getLogger(__name__)

PAD_VALUE = (114, 114, 114)  # AutoShape's letterbox colour
MAX_WH = 7680  # class offset of the class-aware NMS, as in yolov5
MAX_NMS = 30000  # boxes considered by NMS at most, as in yolov5
MAX_DET = 1000  # AutoShape's max_det


def verified(model: Path) -> Path:
    """The model file, if it matches the sha256 its export recorded beside it."""
    side = model.with_name(model.name + ".sha256")
    if not model.is_file() or not side.is_file():
        raise WeightsError(f"{model} or its {side.name} is missing: run python -m yolo5.export")
    expected = side.read_text().split()[0]
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    if digest != expected:
        raise WeightsError(f"{model} has sha256 {digest}, its export recorded {expected}")
    return model


class OnnxDetector(BaseDetector):
    """Owns the ONNX Runtime session. Call detect() from one thread only."""

    def _load(self, model: Path, conf: float, iou: float, threads: int) -> None:
        import onnxruntime

        self.conf, self.iou = conf, iou
        started = time.perf_counter()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads  # 0: onnxruntime's default, one per core
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(verified(model)), options, providers=["CPUExecutionProvider"]
        )
        meta = self._session.get_modelmeta().custom_metadata_map
        self.strides = json.loads(meta["strides"])
        self.anchors = np.array(json.loads(meta["anchors"]), dtype=np.float32)
        self.names = dict(enumerate(json.loads(meta["names"])))
        self._stride = max(self.strides)
        self._logit = math.log(conf / (1 - conf)) if 0 < conf < 1 else -math.inf
        logger.info(
            "model loaded from %s",
            model.name,
            extra=event("model.loaded", file=model.name, timings={"load_ms": ms_since(started)}),
        )

    def detect(self, rgb: np.ndarray) -> Detection:
        started, cpu = time.perf_counter(), time.thread_time()
        image = hwc_safe(rgb)  # the torch backend's shape, so both see the same pixels
        batch, inference_shape = letterbox(image, self.img_size, self._stride)
        outputs = self._session.run(None, {"images": batch})
        rows = self._rows(outputs, inference_shape, image.shape[:2])
        return detection_from(rows, self.names, rgb, ms_since(started), cpu_ms_since(cpu))

    def _rows(self, outputs, inference_shape, photo_shape) -> list[list[float]]:
        """[x1, y1, x2, y2, confidence, class] in the photo's pixels, best first."""
        candidates = [self._decode(o[0], level) for level, o in enumerate(outputs)]
        found = np.concatenate(candidates) if candidates else np.zeros((0, 6), np.float32)
        found = found[found[:, 4] > self.conf]
        found = found[np.argsort(-found[:, 4], kind="stable")[:MAX_NMS]]
        keep = nms(found[:, :4] + found[:, 5:6] * MAX_WH, found[:, 4], self.iou)[:MAX_DET]
        found = found[keep]
        found[:, :4] = scale_boxes(found[:, :4], inference_shape, photo_shape)
        return found.tolist()

    def _decode(self, raw: np.ndarray, level: int) -> np.ndarray:
        """One head output (anchors*(5+classes), ny, nx) to rows [x1,y1,x2,y2,conf,cls]
        for the anchors whose objectness passes the threshold (sigmoid is monotonic, so
        comparing logits decides the same without computing every sigmoid)."""
        anchors = len(self.anchors[level])
        per_anchor = raw.shape[0] // anchors
        grid = raw.reshape(anchors, per_anchor, *raw.shape[1:])
        a, y, x = np.nonzero(grid[:, 4] > self._logit)
        values = 1 / (1 + np.exp(-grid[a, :, y, x]))  # (k, 5 + classes)
        stride = self.strides[level]
        cx = (values[:, 0] * 2 - 0.5 + x) * stride
        cy = (values[:, 1] * 2 - 0.5 + y) * stride
        w = (values[:, 2] * 2) ** 2 * self.anchors[level, a, 0]
        h = (values[:, 3] * 2) ** 2 * self.anchors[level, a, 1]
        scores = values[:, 5:] * values[:, 4:5]
        best = scores.argmax(1)
        conf = scores[np.arange(len(best)), best]
        return np.stack(
            [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, conf, best.astype(np.float32)], 1
        ).astype(np.float32)


def letterbox(rgb: np.ndarray, size: int, stride: int) -> tuple[np.ndarray, tuple[int, int]]:
    """AutoShape's resize and pad: the long side to `size`, each side up to a multiple of
    `stride`, centred on grey. Returns the NCHW float batch and its (height, width)."""
    height, width = rgb.shape[:2]
    gain = size / max(height, width)
    # At least one stride: a 1-pixel sliver scaled down to 0 rows would leave nothing to pad.
    shape = tuple(max(stride, math.ceil(int(s * gain) / stride) * stride) for s in (height, width))
    ratio = min(shape[0] / height, shape[1] / width)
    new_width, new_height = round(width * ratio), round(height * ratio)
    image = rgb
    if (width, height) != (new_width, new_height):
        image = cv2.resize(rgb, (new_width, new_height), interpolation=cv2.INTER_LINEAR)
    pad_w, pad_h = (shape[1] - new_width) / 2, (shape[0] - new_height) / 2
    top, bottom = round(pad_h - 0.1), round(pad_h + 0.1)
    left, right = round(pad_w - 0.1), round(pad_w + 0.1)
    image = cv2.copyMakeBorder(
        image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=PAD_VALUE
    )
    batch = np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32)
    batch *= 1 / 255
    return batch, shape


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Greedy NMS as torchvision.ops.nms: indices kept, by descending score."""
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1) * (y2 - y1)
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        width = np.clip(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0, None)
        height = np.clip(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0, None)
        overlap = width * height
        union = areas[best] + areas[rest] - overlap
        # IoU > iou, without dividing: a zero-area pair (0/0) is kept, as torchvision keeps it.
        order = rest[~(overlap > iou * union)]
    return np.array(keep, dtype=np.int64)


def scale_boxes(boxes: np.ndarray, inference_shape, photo_shape) -> np.ndarray:
    """Boxes from the letterboxed input back to the photo, clipped to it (yolov5's
    scale_boxes)."""
    gain = min(inference_shape[0] / photo_shape[0], inference_shape[1] / photo_shape[1])
    pad_x = (inference_shape[1] - photo_shape[1] * gain) / 2
    pad_y = (inference_shape[0] - photo_shape[0] * gain) / 2
    boxes = (boxes - [pad_x, pad_y, pad_x, pad_y]) / gain
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, photo_shape[1])
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, photo_shape[0])
    return boxes
