"""The worker's configuration: read once from the environment into one typed object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from common.env import (
    UNKNOWN_VERSION,
    env_choice,
    env_float,
    env_int,
    env_opt,
    env_str,
    env_version,
)
from yolo5.weights import Source

MIB = 1024 * 1024
# onnx: ONNX Runtime on the model exported from the checkpoint (fast, no torch at run time);
# torch: the checkpoint itself through yolov5's AutoShape (the reference the tests compare to).
BACKENDS = ("onnx", "torch")
# A liveness stamp, not a secret: a predictable path is what the HEALTHCHECK needs.
MAX_WAIT_SECONDS = 20  # SQS's longest ReceiveMessage long poll
DEFAULT_HEALTH_FILE = "/tmp/yolo5.health"  # noqa: S108  # nosec B108


@dataclass(frozen=True)
class Settings:
    jobs_queue_url: str
    predictions_table: str
    results_url: str
    images_bucket: str | None = None
    aws_region: str = "us-east-1"
    log_level: str = "INFO"
    log_group: str | None = None
    weights: Path | None = Source.explicit
    cache_dir: Path = Source.cache_dir
    allow_download: bool = Source.allow_download
    model_name: str = Source.model_name
    backend: str = BACKENDS[0]
    onnx_model: Path | None = None
    img_size: int = 640
    conf: float = 0.25
    iou: float = 0.45
    # Intra-op threads of the model, per worker process: 1 measured fastest for the whole
    # worker on 2 cores (docs/capacity.md); 0 lets the runtime take one per core.
    threads: int = 1
    batch_size: int = 1
    wait_seconds: int = MAX_WAIT_SECONDS
    max_receive_count: int = 3
    health_file: Path = Path(DEFAULT_HEALTH_FILE)
    max_image_bytes: int = 20 * MIB
    max_image_pixels: int = 40_000_000
    version: str = UNKNOWN_VERSION  # the commit this code was built from

    @property
    def source(self) -> Source:
        return Source(self.weights, self.model_name, self.cache_dir, self.allow_download)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        source = Source.from_env(env)
        return cls(
            jobs_queue_url=env_str("JOBS_QUEUE_URL", env=env),
            predictions_table=env_str("PREDICTIONS_TABLE", env=env),
            results_url=env_str("POLYBOT_RESULTS_URL", env=env),
            images_bucket=env_opt("IMAGES_BUCKET", env),
            aws_region=env_str("AWS_REGION", cls.aws_region, env),
            log_level=env_str("LOG_LEVEL", cls.log_level, env),
            log_group=env_opt("LOG_GROUP", env),
            weights=source.explicit,
            cache_dir=source.cache_dir,
            allow_download=source.allow_download,
            model_name=source.model_name,
            backend=env_choice("YOLO_BACKEND", cls.backend, BACKENDS, env),
            onnx_model=Path(onnx).expanduser() if (onnx := env_opt("YOLO_ONNX", env)) else None,
            img_size=env_int("YOLO_IMG_SIZE", cls.img_size, env, lo=32, hi=4096),
            conf=env_float("YOLO_CONF", cls.conf, env),
            iou=env_float("YOLO_IOU", cls.iou, env),
            threads=env_int("YOLO_THREADS", cls.threads, env, lo=0, hi=256),
            batch_size=env_int("WORKER_BATCH_SIZE", cls.batch_size, env, lo=1, hi=10),
            wait_seconds=env_int(
                "WORKER_WAIT_SECONDS", cls.wait_seconds, env, lo=0, hi=MAX_WAIT_SECONDS
            ),
            max_receive_count=env_int(
                "MAX_RECEIVE_COUNT", cls.max_receive_count, env, lo=1, hi=1000
            ),
            health_file=Path(env_str("HEALTH_FILE", str(cls.health_file), env)),
            max_image_bytes=env_int("MAX_IMAGE_BYTES", cls.max_image_bytes, env, lo=1),
            max_image_pixels=env_int("MAX_IMAGE_PIXELS", cls.max_image_pixels, env, lo=1),
            version=env_version(env),
        )
