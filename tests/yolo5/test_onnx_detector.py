"""The numpy steps around ONNX Runtime, each against the yolov5/torchvision code it mirrors."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from yolo5.onnx_detector import letterbox, nms, scale_boxes, verified
from yolo5.weights import WeightsError

RNG = np.random.default_rng(7)


@pytest.fixture(scope="module", autouse=True)
def contained_yolov5():
    """Import yolov5 the way the torch backend does, with ultralytics' patches undone."""
    from yolo5.torch_detector import _import_yolov5

    _import_yolov5()


def random_boxes(count: int) -> tuple[np.ndarray, np.ndarray]:
    corner = RNG.uniform(0, 600, (count, 2))
    size = RNG.uniform(1, 200, (count, 2))
    return np.hstack([corner, corner + size]).astype(np.float32), RNG.random(count, np.float32)


@pytest.mark.parametrize("iou", [0.2, 0.45, 0.7])
def test_nms_keeps_what_torchvision_keeps(iou):
    import torch
    import torchvision

    boxes, scores = random_boxes(400)
    expected = torchvision.ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), iou)
    assert nms(boxes, scores, iou).tolist() == expected.tolist()


def test_nms_keeps_zero_area_boxes_as_torchvision_does():
    boxes = np.array([[5, 5, 5, 5], [5, 5, 5, 5]], dtype=np.float32)
    assert nms(boxes, np.array([0.9, 0.8], np.float32), 0.45).tolist() == [0, 1]


@pytest.mark.parametrize("shape", [(1080, 810), (720, 1280), (40, 4000), (5, 1), (333, 333)])
def test_letterbox_matches_autoshape(shape):
    """AutoShape: long side to the size, sides up to the stride, then yolov5's letterbox."""
    from yolov5.utils.augmentations import letterbox as yolov5_letterbox
    from yolov5.utils.general import make_divisible

    rgb = RNG.integers(0, 255, (*shape, 3), dtype=np.uint8)
    gain = 640 / max(shape)
    target = [make_divisible(int(s * gain), 32) for s in shape]
    expected = yolov5_letterbox(rgb, target, auto=False)[0]
    batch, inference_shape = letterbox(rgb, 640, 32)
    assert inference_shape == tuple(target)
    assert batch.shape == (1, 3, *target) and batch.dtype == np.float32
    restored = np.rint(batch[0].transpose(1, 2, 0) * 255).astype(np.uint8)
    assert np.array_equal(restored, expected)


def test_a_sliver_gets_at_least_one_stride():
    """1×4000 scales to 0 rows in AutoShape's arithmetic; the letterbox keeps one stride."""
    batch, shape = letterbox(np.zeros((5, 4000, 3), np.uint8), 640, 32)
    assert shape == (32, 640) and batch.shape == (1, 3, 32, 640)


def test_boxes_go_back_to_the_photo_and_are_clipped():
    from yolov5.utils.general import scale_boxes as yolov5_scale_boxes

    boxes, _ = random_boxes(50)
    expected = yolov5_scale_boxes((640, 480), boxes.copy(), (1080, 810))
    assert np.allclose(scale_boxes(boxes, (640, 480), (1080, 810)), expected, atol=1e-3)


def test_a_model_is_loaded_only_if_it_matches_its_recorded_sha256(tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"graph")
    side = tmp_path / "m.onnx.sha256"
    side.write_text(f"{hashlib.sha256(b'graph').hexdigest()}  m.onnx\n")
    assert verified(model) == model
    model.write_bytes(b"tampered")
    with pytest.raises(WeightsError, match="export recorded"):
        verified(model)
    side.unlink()
    with pytest.raises(WeightsError, match="missing"):
        verified(model)
