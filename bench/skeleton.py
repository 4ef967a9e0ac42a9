"""Figure 2 — the course skeleton's way, reimplemented faithfully (benchmark only).

The skeleton's worker saved each downloaded photo to a file and called YOLOv5's
`detect.run()` on it with save_txt=True, which builds the model from the weights file every
time, writes the annotated image and a labels .txt, which it then read back. Our worker's
throughput is measured alternately with it in the same session.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import time
import uuid
from pathlib import Path

from bench.stats import Summary, ratios
from yolo5.weights import verify

GOAL = 3.0


def skeleton_predict(weights: Path, photo: Path, workdir: Path) -> list[str]:
    os.environ["YOLOv5_AUTOINSTALL"] = "false"  # noqa: SIM112 - yolov5 spells it this way
    # yolov5 7.0's loader predates torch's weights_only default; the checkpoint is verified
    # against the pinned sha256 first, as our worker does, and only then unpickled.
    verify(weights)
    os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
    from yolov5.detect import run as detect_run

    name = str(uuid.uuid4())
    original = workdir / f"{name}.jpg"
    original.write_bytes(photo.read_bytes())  # the skeleton downloads from S3 to a file
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


def skeleton_rate(weights: Path, photos: list[Path], count: int) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-skeleton-") as tmp:
        started = time.perf_counter()
        for index in range(count):
            skeleton_predict(weights, photos[index % len(photos)], Path(tmp))
        return count / (time.perf_counter() - started)


def run(weights: Path, photo_paths, rig, photos: list[bytes], counts, reps: int) -> dict:
    skeleton_count, worker_count = counts
    skeleton, worker = [], []
    for rep in range(reps):
        skeleton.append(skeleton_rate(weights, photo_paths, skeleton_count))
        worker.append(rig.throughput(photos, worker_count)["steady"])
        print(f"  fig2 rep {rep + 1}: skeleton {skeleton[-1]:.2f}/s, worker {worker[-1]:.2f}/s")
    ratio = ratios(worker, skeleton)
    return {
        "skeleton": Summary.of(skeleton),
        "worker": Summary.of(worker),
        "ratio": ratio,
        "ok": ratio.median >= GOAL,
    }
