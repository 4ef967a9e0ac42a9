"""Assemble the worker from settings: clients once, model loaded and warm, then run it."""

from __future__ import annotations

import logging

import boto3
from botocore.config import Config

from common.contracts import WorkerBuild
from common.jsonlog import configure_logging, event
from yolo5.backends import ObjectDetector
from yolo5.notifier import ResultsNotifier
from yolo5.processing import JobProcessor, Limits
from yolo5.queue import JobsQueue
from yolo5.settings import MAX_WAIT_SECONDS, Settings
from yolo5.store import PredictionStore
from yolo5.visibility import VisibilityKeeper
from yolo5.worker import Worker

logger = logging.getLogger(__name__)

# One configuration for every AWS client of the worker. Standard retry mode (up to 3 attempts,
# throttling and transient errors retried with backoff: "Retry behavior", AWS SDKs and Tools
# Reference Guide) instead of botocore's legacy mode, and timeouts that give up on a dead
# connection in seconds instead of botocore's 60, while outlasting the long poll: SQS holds a
# ReceiveMessage open for up to MAX_WAIT_SECONDS (20) before it answers.
AWS_CONFIG = Config(
    connect_timeout=5,
    read_timeout=MAX_WAIT_SECONDS + 10,
    retries={"mode": "standard", "max_attempts": 3},
)


def build_worker(
    settings: Settings, detector: ObjectDetector, session: boto3.Session | None = None
) -> Worker:
    session = session or boto3.Session(region_name=settings.aws_region)
    queue = JobsQueue(session.client("sqs", config=AWS_CONFIG), settings.jobs_queue_url)
    max_receive, visibility = queue.limits(settings.max_receive_count)
    keeper = VisibilityKeeper(queue, visibility)
    processor = JobProcessor(
        s3=session.client("s3", config=AWS_CONFIG),
        store=PredictionStore(
            session.resource("dynamodb", config=AWS_CONFIG).Table(settings.predictions_table),
            WorkerBuild(settings.model_name, settings.backend, settings.version),
        ),
        notifier=ResultsNotifier(settings.results_url),
        queue=queue,
        keeper=keeper,
        limits=Limits(settings.max_image_bytes, settings.max_image_pixels, max_receive),
        images_bucket=settings.images_bucket,
    )
    logger.info(
        "maxReceiveCount=%s visibility=%ss",
        max_receive,
        visibility,
        extra=event("queue.limits", max_receive_count=max_receive, visibility_s=visibility),
    )
    return Worker(
        processor=processor,
        detector=detector,
        batch_size=settings.batch_size,
        wait_seconds=settings.wait_seconds,
        health_file=settings.health_file,
    )


def configure(settings: Settings) -> None:
    logs = None
    if settings.log_group:
        logs = boto3.Session(region_name=settings.aws_region).client("logs")
    configure_logging("yolo5", settings.log_level, settings.log_group, logs)
    logging.captureWarnings(True)  # library warnings become JSON log lines too
