"""Tiny images through the real model: found by the reliability suite (a 1×1 photo crashed
inference with "axes don't match array" and was retried as a transient failure)."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("shape", [(1, 1), (1, 300), (4, 640), (2, 2), (5, 5), (300, 1)])
def test_tiny_images_are_detected_not_crashed(real_detector, shape):
    rgb = np.full((*shape, 3), 127, dtype=np.uint8)
    detection = real_detector.detect(rgb)
    assert detection.counts == {}
    assert detection.annotated_jpeg.startswith(b"\xff\xd8")
    for label in detection.labels:
        x1, y1, x2, y2 = label["bbox"]
        assert 0 <= x1 <= x2 <= shape[1] and 0 <= y1 <= y2 <= shape[0]
