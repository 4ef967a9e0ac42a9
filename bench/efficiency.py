"""Figure 1 — worker efficiency: the real worker loop vs the same model called directly.

Both sides use the same photos, the same torch thread count and run alternately in the same
session, so machine noise hits them alike. The direct side is the loaded model (AutoShape:
letterbox + forward + NMS) in a loop on already decoded images: the model's own limit.
"""

from __future__ import annotations

import json
import os
import threading
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


# The share of each image's time the worker's I/O threads spend in Python (≈ 30 ms of CPU
# beside ≈ 90 ms per image, figure 1's CPU table): botocore, JSON, Pillow's wrappers.
GIL_DUTY = 0.3


def gil_bound_rate(detector, arrays, count: int, duty: float = GIL_DUTY) -> float:
    """direct_rate() beside a thread that holds the GIL `duty` of the time, in short bursts as
    the worker's I/O threads do: what the model loses to the GIL alone, with a core to spare."""
    stop = threading.Event()
    document = {"labels": [{"class": "person", "bbox": [1, 2, 3, 4]} for _ in range(50)]}

    def hold_the_gil() -> None:
        burst = 0.003
        while not stop.is_set():
            started = time.perf_counter()
            while time.perf_counter() - started < burst:
                json.loads(json.dumps(document))  # pure Python work: holds the GIL
            time.sleep(burst * (1 - duty) / duty)

    thread = threading.Thread(target=hold_the_gil, daemon=True)
    thread.start()
    try:
        return direct_rate(detector, arrays, count)
    finally:
        stop.set()
        thread.join()


def run(detector, arrays, rig, photos: list[bytes], count: int, reps: int) -> dict:
    direct, worker, wall, gil_bound = [], [], [], []
    groups = {
        "yolo5 worker": rig.pids,
        "moto server": lambda: [p for p in process_tree(os.getpid()) if _is_moto(p)],
    }
    cpu_ms: dict[str, list[float]] = {name: [] for name in groups}
    for rep in range(reps):
        direct.append(direct_rate(detector, arrays, count))
        gil_bound.append(gil_bound_rate(detector, arrays, count))
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
        "gil_bound": Summary.of(gil_bound),
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
