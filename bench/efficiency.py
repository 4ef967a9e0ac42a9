"""Figure 1 — worker efficiency: the real worker loop vs the model called directly.

The worker runs the production backend (ONNX Runtime). It is compared with the torch model
called directly, which is what it replaced, and with the ONNX model called directly, its own
limit. All sides use the same photos and the same intra-op threads, and run alternately in
the same session, so machine noise hits them alike. "Called directly" is the loaded model in
a loop on already decoded images: letterbox + forward + NMS.

Three figures say where the worker's CPU outside the model goes. The model's CPU inside the
worker (its thread's CPU in detect(), from each prediction.done log record) beside the model
called alone shows whether the model itself slows down in the worker. The same stages run one
after another on one thread (bench/stages.py) beside the real worker show what the worker's
concurrency costs. What is left is the stages' own work: decoding, annotation, boto3.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np
import psutil

from bench.procs import CpuMeter
from bench.stats import Summary, ratios
from common.jsonlog import read_records
from local.harness import process_tree

GOAL = 2.0  # the worker (ONNX backend) ÷ the torch model called directly
RATE_GOAL = 20.0  # photos/s of one worker on these 2 cores, with the moto server beside it
OUTSIDE_GOAL_RATIO = 0.5  # the worker's CPU per image outside the model ÷ the model's
CONCURRENCY_GOAL_RATIO = 0.05  # (real worker − single-threaded stages) CPU ÷ the model's


def direct_rate(detect: Callable[[np.ndarray], object], arrays, count: int) -> tuple[float, float]:
    """(images/s, CPU ms per image in this process) of `detect` called in a loop."""
    cpu, started = time.process_time(), time.perf_counter()
    for index in range(count):
        detect(arrays[index % len(arrays)])
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return count / elapsed, cpu * 1000 / count


def run(reference, onnx, arrays, rig, stages, photos: list[bytes], count: int, reps: int) -> dict:
    """`reference` is the torch Detector, `onnx` the OnnxDetector the worker also runs,
    `stages` a bench.stages.SingleThreadedStages on the same rig."""
    torch_direct, onnx_direct, onnx_cpu, worker, wall = [], [], [], [], []
    model_in_worker, single = [], []
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
        offsets = [path.stat().st_size for path in rig.log_paths()]
        with CpuMeter(groups) as cpu:
            measured = rig.throughput(photos, count)
        for name, seconds in cpu.seconds.items():
            cpu_ms[name].append(seconds * 1000 / count)
        model_in_worker.append(_model_cpu_ms(rig.log_paths(), offsets))
        worker.append(measured["steady"])
        wall.append(measured["wall"])
        single.append(stages.run(photos, count))
        print(
            f"  fig1 rep {rep + 1}: torch {torch_direct[-1]:.2f}/s, onnx {onnx_direct[-1]:.2f}/s, "
            f"worker {worker[-1]:.2f}/s, {cpu_ms['yolo5 worker'][-1]:.0f} ms CPU/image "
            f"(model {model_in_worker[-1]:.0f}); one thread {single[-1]['cpu_ms']:.0f} ms/image"
        )
    ratio = ratios(worker, torch_direct)
    worker_cpu = cpu_ms["yolo5 worker"]
    outside = Summary.of([w - m for w, m in zip(worker_cpu, onnx_cpu, strict=True)])
    outside_ratio = Summary.of([(w - m) / m for w, m in zip(worker_cpu, onnx_cpu, strict=True)])
    single_cpu = [s["cpu_ms"] for s in single]
    concurrency = Summary.of(
        [(w - s) / m for w, s, m in zip(worker_cpu, single_cpu, onnx_cpu, strict=True)]
    )
    rate = Summary.of(worker)
    return {
        "outside_ratio": outside_ratio,
        "outside_ok": outside_ratio.median <= OUTSIDE_GOAL_RATIO,
        "model_in_worker_ms": Summary.of(model_in_worker),
        "single_cpu_ms": Summary.of(single_cpu),
        "single_model_ms": Summary.of([s["model_cpu_ms"] for s in single]),
        "single_rate": Summary.of([s["rate"] for s in single]),
        "concurrency_ms": Summary.of([w - s for w, s in zip(worker_cpu, single_cpu, strict=True)]),
        "concurrency_ratio": concurrency,
        "concurrency_ok": concurrency.median <= CONCURRENCY_GOAL_RATIO,
        "direct": Summary.of(torch_direct),
        "onnx_direct": Summary.of(onnx_direct),
        "onnx_cpu_ms": Summary.of(onnx_cpu),
        "worker": rate,
        "worker_wall": Summary.of(wall),
        "ratio": ratio,
        "ratio_onnx": ratios(worker, onnx_direct),
        "outside_ms": outside,
        "ok": ratio.median >= GOAL,
        "count": count,
        "cpu_ms_per_image": {name: Summary.of(v) for name, v in cpu_ms.items()},
    }


def _model_cpu_ms(logs, offsets) -> float:
    """The mean inference_cpu_ms of the prediction.done records written since `offsets`."""
    found = []
    for path, offset in zip(logs, offsets, strict=True):
        with path.open() as log:
            log.seek(offset)
            records = read_records(log, "prediction.done")
            found += [r["timings"]["inference_cpu_ms"] for r in records]
    if not found:
        raise RuntimeError(f"no prediction.done with inference_cpu_ms in {logs}")
    return sum(found) / len(found)


def _is_moto(pid: int) -> bool:
    try:
        return "moto_server" in " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return False
