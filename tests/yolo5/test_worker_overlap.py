"""The worker overlaps a batch's completions with the next batch, and never drops them."""

from __future__ import annotations

import threading

from common.contracts import DONE, PENDING
from tests.yolo5.conftest import FakeDetector, make_processor, make_worker, running
from yolo5.queue import JobsQueue
from yolo5.worker import FINISHING_THREAD_NAME, MAX_FINISHING, Worker


def gated_worker(aws, results, tmp_path, gate: threading.Event) -> Worker:
    processor = make_processor(aws, results.url)
    complete = processor.complete

    def held_complete(prepared, detection):
        gate.wait(30)  # stands in for a slow S3 upload / polybot
        return complete(prepared, detection)

    processor.complete = held_complete
    return make_worker(processor, FakeDetector(), tmp_path / "health")


def test_a_batch_returns_before_its_completion_and_teardown_waits_for_it(
    aws, results, bus_bytes, tmp_path
):
    job = aws.put_photo(bus_bytes)
    aws.send(job.to_json())
    gate = threading.Event()
    worker = gated_worker(aws, results, tmp_path, gate)
    worker.bootstrap()
    try:
        worker.run_until_dry(JobsQueue(aws.sqs, aws.queue_url).receive(1, 0))
        # The loop is free for the next receive while the upload/notify is still pending.
        assert aws.item(job.prediction_id)["status"] == PENDING
        assert results.calls == []
        gate.set()
    finally:
        worker.teardown()
    assert aws.item(job.prediction_id)["status"] == DONE
    assert results.calls == [job.prediction_id]


def test_pending_completions_are_bounded(aws, results, bus_bytes, tmp_path):
    jobs = [aws.put_photo(bus_bytes) for _ in range(MAX_FINISHING + 2)]
    for job in jobs:
        aws.send(job.to_json())
    gate = threading.Event()
    worker = gated_worker(aws, results, tmp_path, gate)
    queue = JobsQueue(aws.sqs, aws.queue_url)
    worker.bootstrap()
    blocked = threading.Thread(
        target=lambda: [worker.run_until_dry(queue.receive(1, 0)) for _ in jobs], daemon=True
    )
    try:
        blocked.start()
        blocked.join(3)
        # With completions stuck, the loop stops taking work (at MAX_FINISHING pending, or
        # sooner when they hold every I/O thread) instead of piling up images in memory.
        assert blocked.is_alive()
        assert worker.detector.calls <= MAX_FINISHING + 1 < len(jobs)
        gate.set()
        blocked.join(30)
        assert not blocked.is_alive()
    finally:
        gate.set()
        worker.teardown()
    assert sorted(results.calls) == sorted(j.prediction_id for j in jobs)


def run_one_by_one(aws, processor, detector, tmp_path) -> Worker:
    """The production loop's shape, batch size 1: receive one, and let the lookahead go on."""
    with running(make_worker(processor, detector, tmp_path / "health")) as worker:
        worker.run_until_dry(JobsQueue(aws.sqs, aws.queue_url).receive(1, 0))
    return worker


def test_the_next_job_is_received_and_decoded_while_the_model_runs(
    aws, results, bus_bytes, tmp_path
):
    """Batch size 1 (production): the lookahead spans receives, so the model never waits."""
    jobs = [aws.put_photo(bus_bytes) for _ in range(3)]
    for job in jobs:
        aws.send(job.to_json())
    processor = make_processor(aws, results.url)
    prepare = processor.prepare
    prepared = threading.Semaphore(0)

    def counting_prepare(message):
        result = prepare(message)
        prepared.release()
        return result

    processor.prepare = counting_prepare
    seen_ahead: list[bool] = []

    class WatchesTheQueue(FakeDetector):
        def detect(self, rgb):
            if not seen_ahead:  # first job: is the second one prepared while this one runs?
                prepared.acquire(timeout=5)  # the first job's own prepare
                seen_ahead.append(prepared.acquire(timeout=5))
            return super().detect(rgb)

    worker = run_one_by_one(aws, processor, WatchesTheQueue(), tmp_path)
    assert seen_ahead == [True]
    assert worker.detector.calls == 3  # the rest came through the lookahead, no long poll
    assert sorted(results.calls) == sorted(j.prediction_id for j in jobs)
    assert aws.queue_depth() == 0


def test_the_annotated_image_is_drawn_off_the_model_thread(
    aws, results, bus_bytes, tmp_path, monkeypatch
):
    import yolo5.detection

    drawn_on: list[str] = []
    draw = yolo5.detection.annotated_jpeg

    def recording_draw(rgb, labels):
        drawn_on.append(threading.current_thread().name)
        return draw(rgb, labels)

    monkeypatch.setattr(yolo5.detection, "annotated_jpeg", recording_draw)
    jobs = [aws.put_photo(bus_bytes) for _ in range(2)]
    for job in jobs:
        aws.send(job.to_json())
    run_one_by_one(aws, make_processor(aws, results.url), FakeDetector(), tmp_path)
    assert len(drawn_on) == 2
    assert all(name.startswith(FINISHING_THREAD_NAME) for name in drawn_on), drawn_on
    assert sorted(results.calls) == sorted(j.prediction_id for j in jobs)
