"""The ONNX Runtime backend finds what the torch reference finds, photo by photo."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.support.images import real_weights, sample_image
from yolo5.backends import load_detector, onnx_model
from yolo5.images import decode_rgb
from yolo5.onnx_detector import OnnxDetector
from yolo5.settings import Settings
from yolo5.torch_detector import Detector

pytestmark = pytest.mark.slow

REQUIRED = {"JOBS_QUEUE_URL": "q", "PREDICTIONS_TABLE": "t", "POLYBOT_RESULTS_URL": "r"}
BOX_PIXELS = 2
CONFIDENCE = 0.01


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    """As the worker reads them, with the export cache in a fresh directory."""
    cache = tmp_path_factory.mktemp("cache")
    env = {**REQUIRED, "YOLO_WEIGHTS": str(real_weights()), "YOLO_CACHE_DIR": str(cache)}
    return Settings.from_env(env)


@pytest.fixture(scope="module")
def backends(settings) -> tuple[Detector, OnnxDetector]:
    onnx = load_detector(settings)  # the default backend, exported on first use
    assert isinstance(onnx, OnnxDetector)
    return Detector(real_weights(), "yolov5n"), onnx


def encode(image: Image.Image, fmt: str = "JPEG", **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def bus() -> Image.Image:
    return Image.open(sample_image("bus.jpg")).convert("RGB")


def exif_rotated() -> bytes:
    """bus.jpg stored sideways with Orientation 6 (rotate 90° clockwise to view)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(bus().transpose(Image.Transpose.ROTATE_90), exif=exif)


def with_alpha() -> bytes:
    rgba = bus().convert("RGBA")
    rgba.putalpha(200)
    return encode(rgba, "PNG")


PHOTOS = {
    "bus": lambda: sample_image("bus.jpg").read_bytes(),
    "zidane": lambda: sample_image("zidane.jpg").read_bytes(),
    "gray": lambda: encode(bus().convert("L")),
    "exif-rotated": exif_rotated,
    "1x1": lambda: encode(Image.new("RGB", (1, 1), (90, 120, 150))),
    "4000x40": lambda: encode(bus().resize((4000, 40))),
    "very-large": lambda: encode(bus().resize((4860, 6480)), quality=85),
    "png-alpha": with_alpha,
}


@pytest.mark.parametrize("name", PHOTOS)
def test_both_backends_find_the_same_objects(backends, name):
    rgb = decode_rgb(PHOTOS[name](), 10**8, 10**8)
    torch_found, onnx_found = (backend.detect(rgb) for backend in backends)
    assert onnx_found.counts == torch_found.counts
    assert len(onnx_found.labels) == len(torch_found.labels)
    for ours, reference in zip(onnx_found.labels, torch_found.labels, strict=True):
        assert ours["class"] == reference["class"]
        assert abs(ours["confidence"] - reference["confidence"]) <= CONFIDENCE
        assert np.abs(np.subtract(ours["bbox"], reference["bbox"])).max() <= BOX_PIXELS


def test_the_samples_give_the_known_counts(backends):
    onnx = backends[1]
    found = {
        name: onnx.detect(decode_rgb(PHOTOS[name](), 10**8, 10**8)).counts
        for name in ("bus", "zidane")
    }
    assert found == {"bus": {"person": 4, "bus": 1}, "zidane": {"person": 2, "tie": 1}}


@pytest.mark.parametrize(("conf", "iou", "size"), [(0.5, 0.45, 640), (0.25, 0.2, 320)])
def test_settings_mean_the_same_in_both_backends(settings, conf, iou, size):
    rgb = decode_rgb(PHOTOS["zidane"](), 10**8, 10**8)
    model = onnx_model(settings)
    torch_found = Detector(real_weights(), "yolov5n", size, conf, iou).detect(rgb)
    onnx_found = OnnxDetector(model, "yolov5n", size, conf, iou).detect(rgb)
    assert onnx_found.counts == torch_found.counts
    assert all(label["confidence"] > conf for label in onnx_found.labels)


def test_the_export_is_reused_and_the_same_bytes_each_time(settings, tmp_path):
    """One export per checkpoint in the cache; exporting again gives the same file."""
    from yolo5.export import export

    cached = onnx_model(settings)
    assert onnx_model(settings) == cached
    again = export(real_weights(), tmp_path / "again.onnx")
    assert again.read_bytes() == cached.read_bytes()
