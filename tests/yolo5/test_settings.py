from __future__ import annotations

from pathlib import Path

import pytest

from common.env import SettingsError
from yolo5.settings import Settings

REQUIRED = {
    "JOBS_QUEUE_URL": "http://127.0.0.1:1/123/jobs",
    "PREDICTIONS_TABLE": "predictions",
    "POLYBOT_RESULTS_URL": "http://127.0.0.1:2/results",
}


def test_defaults():
    settings = Settings.from_env(REQUIRED)
    assert settings.results_url == REQUIRED["POLYBOT_RESULTS_URL"]
    assert (settings.model_name, settings.img_size, settings.conf, settings.iou) == (
        "yolov5n",
        640,
        0.25,
        0.45,
    )
    assert (settings.batch_size, settings.wait_seconds, settings.max_receive_count) == (1, 20, 3)
    assert settings.weights is None
    assert settings.allow_download is True
    assert settings.health_file == Path("/tmp/yolo5.health")
    assert (settings.backend, settings.onnx_model, settings.threads) == ("onnx", None, 1)
    assert settings.version == "unknown"


def test_overrides():
    settings = Settings.from_env(
        {
            **REQUIRED,
            "YOLO_WEIGHTS": "/models/x.pt",
            "WORKER_BATCH_SIZE": "10",
            "YOLO_CONF": "0.5",
            "YOLO_ALLOW_DOWNLOAD": "false",
            "YOLO_THREADS": "2",
            "YOLO_BACKEND": "Torch",
            "YOLO_ONNX": "/models/x.onnx",
            "MAX_IMAGE_PIXELS": "1000",
            "IMAGES_BUCKET": "images",
            "APP_VERSION": "f" * 40,
        }
    )
    assert settings.version == "f" * 40
    assert settings.weights == Path("/models/x.pt")
    assert (settings.batch_size, settings.conf, settings.allow_download) == (10, 0.5, False)
    assert (settings.threads, settings.max_image_pixels) == (2, 1000)
    assert (settings.backend, settings.onnx_model) == ("torch", Path("/models/x.onnx"))
    assert settings.images_bucket == "images"


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_missing_required_fails_fast(missing):
    env = {k: v for k, v in REQUIRED.items() if k != missing}
    with pytest.raises(SettingsError, match=missing):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WORKER_BATCH_SIZE", "11"),
        ("WORKER_BATCH_SIZE", "0"),
        ("WORKER_WAIT_SECONDS", "21"),
        ("YOLO_CONF", "high"),
        ("YOLO_BACKEND", "tensorflow"),
    ],
)
def test_bad_values_fail_fast(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({**REQUIRED, name: value})
