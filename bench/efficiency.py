"""Figure 1 — worker efficiency: the real worker loop vs the same model called directly.

Both sides use the same photos, the same torch thread count and run alternately in the same
session, so machine noise hits them alike. The direct side is the loaded model (AutoShape:
letterbox + forward + NMS) in a loop on already decoded images: the model's own limit.
"""

from __future__ import annotations

import os
import time

import psutil

from bench.procs import CpuMeter, process_tree
from bench.stats import Summary, ratios

GOAL = 0.90


def direct_rate(detector, arrays, count: int) -> float:
    started = time.perf_counter()
    for index in range(count):
        detector._model(arrays[index % len(arrays)], size=detector.img_size)
    return count / (time.perf_counter() - started)


def run(detector, arrays, rig, photos: list[bytes], count: int, reps: int) -> dict:
    direct, worker, wall = [], [], []
    groups = {
        "yolo5 worker": rig.pids,
        "moto server": lambda: [p for p in process_tree(os.getpid()) if _is_moto(p)],
    }
    cpu_ms: dict[str, list[float]] = {name: [] for name in groups}
    for rep in range(reps):
        direct.append(direct_rate(detector, arrays, count))
        with CpuMeter(groups) as cpu:
            measured = rig.throughput(photos, count)
        for name, seconds in cpu.seconds.items():
            cpu_ms[name].append(seconds * 1000 / count)
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
        "cpu_ms_per_image": {name: Summary.of(v) for name, v in cpu_ms.items()},
    }


def _is_moto(pid: int) -> bool:
    try:
        return "moto_server" in " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return False
