"""Fixture chain for the worker: moto clients → queue/bucket/table → processor → worker;
fakes; model."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from common.contracts import Job, WorkerBuild, original_key, pending_item, utc_now_iso
from local import bootstrap
from tests.support.images import real_weights, sample_image
from tests.support.servers import serve_wsgi
from yolo5.detection import Detection
from yolo5.notifier import ResultsNotifier
from yolo5.processing import JobProcessor, Limits
from yolo5.queue import JobsQueue
from yolo5.store import PredictionStore
from yolo5.visibility import VisibilityKeeper
from yolo5.worker import Worker

MAX_RECEIVE = 3
# The build the tests' worker stamps on what it finishes (bootstrap takes it from settings).
WORKER_BUILD = WorkerBuild("yolov5n", "onnx", "0123456789abcdef0123456789abcdef01234567")


@dataclass
class Aws:
    """Clients and per-test resources on one boto3 session (moto in-process or server)."""

    session: boto3.Session
    bucket: str
    table_name: str
    queue_url: str
    dlq_url: str

    @property
    def sqs(self):
        return self.session.client("sqs")

    @property
    def s3(self):
        return self.session.client("s3")

    @property
    def table(self):
        return self.session.resource("dynamodb").Table(self.table_name)

    def put_photo(self, data: bytes, chat_id: int = 777, pending: bool = True) -> Job:
        pid = str(uuid.uuid4())
        key = original_key(chat_id, pid)
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)
        if pending:
            self.table.put_item(Item=pending_item(pid, chat_id, key, utc_now_iso()))
        return Job(pid, chat_id, self.bucket, key, 42, utc_now_iso())

    def send(self, body: str) -> None:
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)

    def item(self, pid: str) -> dict | None:
        return self.table.get_item(Key={"prediction_id": pid}, ConsistentRead=True).get("Item")

    def queue_depth(self, url: str | None = None) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url or self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(v) for v in attrs.values())


def create_resources(session: boto3.Session, visibility: int = 30) -> Aws:
    """Fresh resources from the data template, as local mode and the benchmarks make them."""
    made = bootstrap.create_resources(session, "yolo5", visibility, MAX_RECEIVE)
    return Aws(session, made.bucket, made.table, made.queue_url, made.dlq_url)


@pytest.fixture
def aws():
    with mock_aws():
        yield create_resources(boto3.Session(region_name="us-east-1"))


@dataclass
class ResultsStub:
    """Stands in for polybot's POST /results: records ids, answers from a script."""

    url: str = ""
    calls: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # consumed per call; then `default`
    default: int = 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ, start_response):
        from urllib.parse import parse_qs

        pid = parse_qs(environ.get("QUERY_STRING", "")).get("predictionId", [""])[0]
        with self.lock:
            self.calls.append(pid)
            status = self.statuses.pop(0) if self.statuses else self.default
        start_response(f"{status} X", [("Content-Type", "application/json")])
        return [b"{}"]


@pytest.fixture
def results():
    stub = ResultsStub()
    with serve_wsgi(stub) as base:
        stub.url = f"{base}/results"
        yield stub


class FakeDetector:
    """Finds one 'cat' everywhere; counts its calls."""

    model_name = "fake"

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, rgb) -> Detection:
        self.calls += 1
        labels = [{"class": "cat", "confidence": 0.9, "bbox": [0, 0, 1, 1]}]
        return Detection(labels, {"cat": 1}, 12.5, rgb, 11.0)


@pytest.fixture
def fake_detector():
    return FakeDetector()


def make_processor(
    aws: Aws, results_url: str, images_bucket: str | None = None, **limits
) -> JobProcessor:
    queue = JobsQueue(aws.sqs, aws.queue_url)
    options = {
        "max_image_bytes": 5_000_000,
        "max_image_pixels": 20_000_000,
        "attempts_before_dead_letter": MAX_RECEIVE,
        **limits,
    }
    return JobProcessor(
        s3=aws.s3,
        store=PredictionStore(aws.table, WORKER_BUILD),
        notifier=ResultsNotifier(results_url, attempts=3, base_delay=0.01, max_delay=0.02),
        queue=queue,
        keeper=VisibilityKeeper(queue, 30),
        limits=Limits(**options),
        images_bucket=images_bucket or aws.bucket,
    )


def make_worker(processor: JobProcessor, detector, health_file: Path, batch_size=1) -> Worker:
    return Worker(
        processor=processor,
        detector=detector,
        batch_size=batch_size,
        wait_seconds=0,
        health_file=health_file,
    )


@contextmanager
def running(worker: Worker) -> Iterator[Worker]:
    """Between the worker's bootstrap and teardown: its I/O threads and keeper are up."""
    worker.bootstrap()
    try:
        yield worker
    finally:
        worker.teardown()


@pytest.fixture
def processor(aws, results):
    return make_processor(aws, results.url)


@pytest.fixture
def worker(processor, fake_detector, tmp_path):
    """A running worker on `processor` with the fake detector (tests may swap the detector)."""
    with running(make_worker(processor, fake_detector, tmp_path / "health")) as worker:
        yield worker


@pytest.fixture
def bus_bytes() -> bytes:
    return sample_image("bus.jpg").read_bytes()


@pytest.fixture(scope="session")
def real_detector():
    """The real YOLOv5n, loaded once for the whole session (it is slow on a shared CPU)."""
    from yolo5.torch_detector import Detector

    detector = Detector(real_weights(), "yolov5n")
    detector.warm_up()
    return detector
