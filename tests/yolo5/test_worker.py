"""The worker loop: batches, poison jobs, and SIGTERM handling in a real subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from common.contracts import DONE, PENDING
from tests.support.images import real_weights, sample_image
from tests.yolo5.conftest import FakeDetector, create_resources, make_processor, make_worker
from yolo5.queue import JobsQueue
from yolo5.worker import Worker


class PoisonOnce(FakeDetector):
    """Crashes on its first image, works afterwards."""

    def detect(self, rgb):
        if self.calls == 0:
            self.calls += 1
            raise RuntimeError("poison")
        return super().detect(rgb)


def batch_worker(aws, results, detector, tmp_path) -> Worker:
    return make_worker(make_processor(aws, results.url), detector, tmp_path / "health", 10)


def test_a_poison_job_does_not_stop_the_next(aws, results, bus_bytes, tmp_path):
    jobs = [aws.put_photo(bus_bytes) for _ in range(3)]
    for job in jobs:
        aws.send(job.to_json())
    worker = batch_worker(aws, results, PoisonOnce(), tmp_path)
    worker.bootstrap()
    try:
        messages = JobsQueue(aws.sqs, aws.queue_url).receive(10, 0)
        assert len(messages) == 3
        worker.run_until_dry(messages)
    finally:
        worker.teardown()

    statuses = sorted(aws.item(job.prediction_id)["status"] for job in jobs)
    assert statuses == [DONE, DONE, PENDING]  # the poisoned one waits for its retry
    assert len(results.calls) == 2
    assert (tmp_path / "health").exists()


def test_stop_mid_batch_finishes_the_current_job_and_releases_the_rest(
    aws, results, bus_bytes, tmp_path
):
    jobs = [aws.put_photo(bus_bytes) for _ in range(4)]
    for job in jobs:
        aws.send(job.to_json())

    class StopsTheWorker(FakeDetector):
        def detect(self, rgb):
            worker._stop = True  # as the first SIGTERM would
            return super().detect(rgb)

    worker = batch_worker(aws, results, StopsTheWorker(), tmp_path)
    worker.bootstrap()
    try:
        worker.run_until_dry(JobsQueue(aws.sqs, aws.queue_url).receive(10, 0))
    finally:
        worker.teardown()

    assert worker.detector.calls == 1
    assert sorted(aws.item(j.prediction_id)["status"] for j in jobs) == [DONE] + [PENDING] * 3
    # The released messages are visible again right away for another worker.
    assert len(JobsQueue(aws.sqs, aws.queue_url).receive(10, 0)) == 3


def test_a_stop_after_receive_returned_releases_what_it_brought_at_once(
    aws, results, bus_bytes, tmp_path
):
    """A SIGTERM (an ASG scale-in) landing after ReceiveMessage has returned messages, before
    they are tracked, must not strand them invisible for the visibility timeout."""
    jobs = [aws.put_photo(bus_bytes) for _ in range(3)]
    for job in jobs:
        aws.send(job.to_json())
    worker = batch_worker(aws, results, FakeDetector(), tmp_path)
    track = worker.keeper.track

    def signal_then_track(message):
        worker.keeper.track = track  # once
        signal.raise_signal(signal.SIGTERM)  # its handler runs here, before raise_signal returns
        track(message)

    worker.keeper.track = signal_then_track
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        worker.work()
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)

    assert worker.keeper.track is track  # the signal did land after the receive
    assert worker.detector.calls == 0
    assert [aws.item(j.prediction_id)["status"] for j in jobs] == [PENDING] * 3
    # Released (visibility 0), not left invisible for the queue's 30 s visibility timeout.
    assert len(JobsQueue(aws.sqs, aws.queue_url).receive(10, 0)) == 3


# --- a real worker process against a moto server ---------------------------------------------


@pytest.fixture
def server_aws(moto_server, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    return create_resources(boto3.Session(region_name="us-east-1"), visibility=30)


def worker_env(server_aws, results, tmp_path, **extra) -> dict:
    return {
        **os.environ,
        "JOBS_QUEUE_URL": server_aws.queue_url,
        "PREDICTIONS_TABLE": server_aws.table_name,
        "IMAGES_BUCKET": server_aws.bucket,
        "POLYBOT_RESULTS_URL": results.url,
        "HEALTH_FILE": str(tmp_path / "health"),
        "STARTED_MARKER": str(tmp_path / "started"),
        "WORKER_WAIT_SECONDS": "1",
        "YOLO_AUTOINSTALL": "false",
        "YOLOv5_AUTOINSTALL": "false",
        **extra,
    }


def start(module: str, env: dict, log: Path) -> subprocess.Popen:
    """Run the worker; its log goes to a file (a full pipe would block it)."""
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", module], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def wait_for(predicate, timeout: float, what: str, process: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if process is not None and process.poll() is not None:
            pytest.fail(f"worker exited early ({process.returncode}): {' '.join(process.args)}")
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def stop(process: subprocess.Popen, signals: int = 1, timeout: float = 30) -> int:
    for _ in range(signals):
        process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("worker did not exit in time")


@pytest.mark.slow
def test_sigterm_mid_job_finishes_it_and_exits_0(server_aws, results, tmp_path):
    job = server_aws.put_photo(sample_image("bus.jpg").read_bytes())
    server_aws.send(job.to_json())
    process = start(
        "tests.yolo5.fake_worker", worker_env(server_aws, results, tmp_path), tmp_path / "log"
    )
    wait_for((tmp_path / "started").exists, 60, "the job to start", process)

    assert stop(process) == 0
    assert server_aws.item(job.prediction_id)["status"] == DONE
    assert results.calls == [job.prediction_id]
    assert server_aws.queue_depth() == 0


@pytest.mark.slow
def test_second_sigterm_releases_the_job_and_exits_0(server_aws, results, tmp_path):
    job = server_aws.put_photo(sample_image("bus.jpg").read_bytes())
    server_aws.send(job.to_json())
    env = worker_env(server_aws, results, tmp_path, FAKE_INFERENCE_SECONDS="60")
    process = start("tests.yolo5.fake_worker", env, tmp_path / "log")
    wait_for((tmp_path / "started").exists, 60, "the job to start", process)

    assert stop(process, signals=2, timeout=15) == 0
    assert server_aws.item(job.prediction_id)["status"] == PENDING
    released = JobsQueue(server_aws.sqs, server_aws.queue_url).receive(1, 0)
    assert len(released) == 1  # visible again at once, not after the 30 s visibility timeout
    assert released[0].receive_count == 2


@pytest.mark.slow
def test_sigterm_while_long_polling_exits_promptly(server_aws, results, tmp_path):
    env = worker_env(server_aws, results, tmp_path, WORKER_WAIT_SECONDS="20")
    process = start("tests.yolo5.fake_worker", env, tmp_path / "log")
    wait_for((tmp_path / "health").exists, 60, "the worker to be ready", process)
    time.sleep(1)  # inside the 20 s long poll by now
    assert stop(process, timeout=10) == 0


@pytest.mark.slow
def test_real_worker_process_with_the_real_model(server_aws, results, tmp_path):
    jobs = [
        server_aws.put_photo(sample_image(name).read_bytes()) for name in ("bus.jpg", "zidane.jpg")
    ]
    for job in jobs:
        server_aws.send(job.to_json())
    env = worker_env(
        server_aws, results, tmp_path, YOLO_WEIGHTS=str(real_weights()), WORKER_BATCH_SIZE="10"
    )
    process = start("yolo5", env, tmp_path / "log")
    try:
        wait_for(lambda: len(results.calls) == 2, 180, "both results", process)
    finally:
        code = stop(process)
    assert code == 0
    counts = [server_aws.item(job.prediction_id)["counts"] for job in jobs]
    assert counts == [{"person": 4, "bus": 1}, {"person": 2, "tie": 1}]
    assert server_aws.queue_depth() == 0
