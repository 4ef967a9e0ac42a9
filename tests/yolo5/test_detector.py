"""The real YOLOv5n on the real sample photos (slow: it runs the model)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.support.images import real_weights, sample_image
from yolo5.images import decode_rgb

pytestmark = pytest.mark.slow


def detect(detector, name):
    return detector.detect(decode_rgb(sample_image(name).read_bytes(), 10**8, 10**8))


@pytest.mark.parametrize(
    ("name", "counts"),
    [("bus.jpg", {"person": 4, "bus": 1}), ("zidane.jpg", {"person": 2, "tie": 1})],
)
def test_known_detections(real_detector, name, counts):
    result = detect(real_detector, name)
    assert result.counts == counts
    assert result.inference_ms > 0
    # The model runs on the calling thread (one intra-op thread), so its CPU is counted there.
    assert 0 < result.inference_cpu_ms <= result.inference_ms * 1.1 + 1
    height, width = Image.open(sample_image(name)).size[::-1]
    for label in result.labels:
        x1, y1, x2, y2 = label["bbox"]
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
        assert 0.25 <= label["confidence"] <= 1
        assert all(isinstance(v, int) for v in label["bbox"])


def test_annotated_jpeg_decodes_at_the_original_size(real_detector):
    result = detect(real_detector, "bus.jpg")
    annotated = Image.open(io.BytesIO(result.annotated_jpeg))
    assert annotated.format == "JPEG"
    assert annotated.size == (810, 1080)


def test_model_is_loaded_once_and_reused(monkeypatch):
    import torch

    from yolo5.torch_detector import Detector

    loads = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: loads.append(a) or real_load(*a, **k))
    detector = Detector(real_weights(), "yolov5n")
    for _ in range(3):
        detect(detector, "zidane.jpg")
    assert len(loads) == 1


def test_loading_the_model_leaves_pillow_open_alone(real_detector):
    """ultralytics patches Image.open to pip-install plugins on unknown bytes; we undo that."""
    from common.contracts import FailureReason
    from yolo5.errors import PermanentJobError

    assert Image.open.__module__ == "PIL.Image"
    with pytest.raises(PermanentJobError) as caught:
        decode_rgb(b"<html>not a photo</html>", 10**6, 10**6)
    assert caught.value.failure.reason is FailureReason.NOT_AN_IMAGE
