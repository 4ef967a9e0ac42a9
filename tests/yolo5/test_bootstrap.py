"""The worker assembled from its settings carries the build it runs: its commit (APP_VERSION),
model and backend are stamped on what it finishes and logged when it is ready."""

from __future__ import annotations

import logging

from common.contracts import WorkerBuild
from tests.yolo5.conftest import FakeDetector
from yolo5.bootstrap import build_worker
from yolo5.settings import Settings

SHA = "feedface" * 5


def settings_for(aws, **env: str) -> Settings:
    return Settings.from_env(
        {
            "JOBS_QUEUE_URL": aws.queue_url,
            "PREDICTIONS_TABLE": aws.table_name,
            "POLYBOT_RESULTS_URL": "http://127.0.0.1:9/results",
            "IMAGES_BUCKET": aws.bucket,
            "WORKER_WAIT_SECONDS": "0",
            **env,
        }
    )


def ready_events(caplog) -> list[dict]:
    return [r.fields for r in caplog.records if getattr(r, "event", None) == "worker.ready"]


def test_the_worker_stamps_and_logs_the_commit_it_was_built_from(aws, tmp_path, caplog):
    settings = settings_for(
        aws, APP_VERSION=SHA, YOLO_BACKEND="torch", HEALTH_FILE=str(tmp_path / "h")
    )
    worker = build_worker(settings, FakeDetector(), aws.session)
    caplog.set_level(logging.INFO)

    worker.bootstrap()
    worker.teardown()

    assert worker.processor.build == WorkerBuild("yolov5n", "torch", SHA)
    (ready,) = ready_events(caplog)
    assert (ready["version"], ready["model"], ready["backend"]) == (SHA, "yolov5n", "torch")


def test_a_worker_built_without_a_commit_says_unknown(aws, tmp_path, caplog):
    worker = build_worker(
        settings_for(aws, HEALTH_FILE=str(tmp_path / "h")), FakeDetector(), aws.session
    )
    caplog.set_level(logging.INFO)

    worker.bootstrap()
    worker.teardown()

    assert worker.processor.build.version == "unknown"
    assert ready_events(caplog)[0]["version"] == "unknown"
