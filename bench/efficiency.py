"""Figure 1 — worker efficiency: the real worker loop vs the same model called directly.

Both sides use the same photos, the same torch thread count and run alternately in the same
session, so machine noise hits them alike. The direct side is the loaded model (AutoShape:
letterbox + forward + NMS) in a loop on already decoded images: the model's own limit.
"""

from __future__ import annotations

import time

from bench.stats import Summary, ratios

GOAL = 0.90


def direct_rate(detector, arrays, count: int) -> float:
    started = time.perf_counter()
    for index in range(count):
        detector._model(arrays[index % len(arrays)], size=detector.img_size)
    return count / (time.perf_counter() - started)


def run(detector, arrays, rig, photos: list[bytes], count: int, reps: int) -> dict:
    direct, worker, wall = [], [], []
    for rep in range(reps):
        direct.append(direct_rate(detector, arrays, count))
        measured = rig.throughput(photos, count)
        worker.append(measured["steady"])
        wall.append(measured["wall"])
        print(f"  fig1 rep {rep + 1}: direct {direct[-1]:.2f}/s, worker {worker[-1]:.2f}/s")
    ratio = ratios(worker, direct)
    return {
        "direct": Summary.of(direct),
        "worker": Summary.of(worker),
        "worker_wall": Summary.of(wall),
        "ratio": ratio,
        "ok": ratio.median >= GOAL,
        "count": count,
    }
