"""Figure 1 — worker efficiency: the real worker loop vs the model called directly.

The worker runs the production backend (ONNX Runtime). It is compared with the torch model
called directly, which is what it replaced, and with the ONNX model called directly, its own
limit. All sides use the same photos and the same intra-op threads, and run alternately in
the same session, so machine noise hits them alike. "Called directly" is the loaded model in
a loop on already decoded images: letterbox + forward + NMS.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np
import psutil

from bench.procs import CpuMeter
from bench.stats import Summary, ratios
from local.harness import process_tree

GOAL = 2.0  # the worker (ONNX backend) ÷ the torch model called directly
RATE_GOAL = 20.0  # photos/s of one worker on these 2 cores, with the moto server beside it
OUTSIDE_GOAL_MS = 20.0  # the worker's CPU per image outside the model


def direct_rate(detect: Callable[[np.ndarray], object], arrays, count: int) -> tuple[float, float]:
    """(images/s, CPU ms per image in this process) of `detect` called in a loop."""
    cpu, started = time.process_time(), time.perf_counter()
    for index in range(count):
        detect(arrays[index % len(arrays)])
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return count / elapsed, cpu * 1000 / count


def run(reference, onnx, arrays, rig, photos: list[bytes], count: int, reps: int) -> dict:
    """`reference` is the torch Detector, `onnx` the OnnxDetector the worker also runs."""
    torch_direct, onnx_direct, onnx_cpu, worker, wall = [], [], [], [], []
    groups = {
        "yolo5 worker": rig.pids,
        "moto server": lambda: [p for p in process_tree(os.getpid()) if _is_moto(p)],
    }
    cpu_ms: dict[str, list[float]] = {name: [] for name in groups}
    for rep in range(reps):
        rate, _ = direct_rate(lambda a: reference._model(a, size=reference.img_size), arrays, count)
        torch_direct.append(rate)
        rate, cpu_per_image = direct_rate(onnx.detect, arrays, count)
        onnx_direct.append(rate)
        onnx_cpu.append(cpu_per_image)
        with CpuMeter(groups) as cpu:
            measured = rig.throughput(photos, count)
        for name, seconds in cpu.seconds.items():
            cpu_ms[name].append(seconds * 1000 / count)
        worker.append(measured["steady"])
        wall.append(measured["wall"])
        print(
            f"  fig1 rep {rep + 1}: torch {torch_direct[-1]:.2f}/s, onnx {onnx_direct[-1]:.2f}/s, "
            f"worker {worker[-1]:.2f}/s"
        )
    ratio = ratios(worker, torch_direct)
    outside = Summary.of([w - m for w, m in zip(cpu_ms["yolo5 worker"], onnx_cpu, strict=True)])
    rate = Summary.of(worker)
    return {
        "direct": Summary.of(torch_direct),
        "onnx_direct": Summary.of(onnx_direct),
        "onnx_cpu_ms": Summary.of(onnx_cpu),
        "worker": rate,
        "worker_wall": Summary.of(wall),
        "ratio": ratio,
        "ratio_onnx": ratios(worker, onnx_direct),
        "outside_ms": outside,
        "ok": ratio.median >= GOAL,
        "rate_ok": rate.median >= RATE_GOAL,
        "outside_ok": outside.median <= OUTSIDE_GOAL_MS,
        "count": count,
        "cpu_ms_per_image": {name: Summary.of(v) for name, v in cpu_ms.items()},
    }


def _is_moto(pid: int) -> bool:
    try:
        return "moto_server" in " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return False
