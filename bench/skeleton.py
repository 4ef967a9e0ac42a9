"""Figure 2 — the course skeleton's way, reimplemented faithfully (benchmark only).

The skeleton's worker handled one photo at a time, start to finish: download the original
from S3 to a file, call YOLOv5's `detect.run()` on it with save_txt=True (which builds the
model from the weights file every time and writes the annotated image and a labels .txt),
read the labels back, upload the annotated file, record the result, tell polybot. Here it
runs against the same moto server and stub /results as our worker, on the same staged jobs
(only the SQS receive/delete is left out, which flatters it), alternately with our worker.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
import time
from pathlib import Path

import requests

from bench.stats import Summary, ratios
from common.contracts import DONE, predicted_key
from yolo5.weights import verify

GOAL = 6.0


def skeleton_predict(weights: Path, original: Path, workdir: Path, name: str) -> list[str]:
    os.environ["YOLOv5_AUTOINSTALL"] = "false"  # noqa: SIM112 - yolov5 spells it this way
    # yolov5 7.0's loader predates torch's weights_only default; the checkpoint is verified
    # against the pinned sha256 first, as our worker does, and only then unpickled.
    verify(weights)
    os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
    from yolov5.detect import run as detect_run

    logging.getLogger("yolov5").setLevel(logging.WARNING)  # a banner per call otherwise
    with contextlib.redirect_stdout(io.StringIO()):
        detect_run(
            weights=str(weights),
            source=str(original),
            project=str(workdir),
            name=name,
            save_txt=True,
        )
    labels = workdir / name / "labels" / f"{name}.txt"
    return labels.read_text().splitlines() if labels.exists() else []


def skeleton_job(weights: Path, rig, job, workdir: Path) -> None:
    s3, table = rig.injector.s3, rig.injector.table
    original = workdir / f"{job.prediction_id}.jpg"
    s3.download_file(job.bucket, job.image_key, str(original))
    labels = skeleton_predict(weights, original, workdir, job.prediction_id)
    predicted = workdir / job.prediction_id / original.name
    s3.upload_file(str(predicted), job.bucket, predicted_key(job.prediction_id))
    table.update_item(
        Key={"prediction_id": job.prediction_id},
        UpdateExpression="SET #s = :done, labels = :labels",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":done": DONE, ":labels": labels},
    )
    requests.post(rig.results_url, params={"predictionId": job.prediction_id}, timeout=30)


def skeleton_rate(weights: Path, rig, photos: list[bytes], count: int) -> float:
    jobs = [rig.injector.stage(photos[i % len(photos)], 8000 + i) for i in range(count)]
    with tempfile.TemporaryDirectory(prefix="bench-skeleton-") as tmp:
        started = time.perf_counter()
        for job in jobs:
            skeleton_job(weights, rig, job, Path(tmp))
        return count / (time.perf_counter() - started)


def run(weights: Path, rig, photos: list[bytes], counts, reps: int) -> dict:
    skeleton_count, worker_count = counts
    skeleton, worker = [], []
    for rep in range(reps):
        skeleton.append(skeleton_rate(weights, rig, photos, skeleton_count))
        worker.append(rig.throughput(photos, worker_count)["steady"])
        print(f"  fig2 rep {rep + 1}: skeleton {skeleton[-1]:.2f}/s, worker {worker[-1]:.2f}/s")
    ratio = ratios(worker, skeleton)
    return {
        "skeleton": Summary.of(skeleton),
        "worker": Summary.of(worker),
        "ratio": ratio,
        "ok": ratio.median >= GOAL,
    }
