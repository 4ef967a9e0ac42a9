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
from collections import defaultdict
from collections.abc import Callable

import numpy as np
import psutil

from bench.procs import CpuMeter
from bench.stats import Summary, ratios
from common.jsonlog import read_records
from local.harness import process_tree

GOAL = 2.0  # the worker (ONNX backend) ÷ the torch model called directly
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
    groups = {
        "yolo5 worker": rig.pids,
        "moto server": lambda: [p for p in process_tree(os.getpid()) if _is_moto(p)],
    }
    found: dict[str, list] = defaultdict(list)  # one value per repetition, by name
    for rep in range(reps):
        for name, value in _one_rep(reference, onnx, arrays, rig, stages, photos, count, groups):
            found[name].append(value)
        print(
            f"  fig1 rep {rep + 1}: torch {found['torch'][-1]:.2f}/s, "
            f"onnx {found['onnx'][-1]:.2f}/s, worker {found['worker'][-1]:.2f}/s, "
            f"{found['yolo5 worker'][-1]:.0f} ms CPU/image (model {found['in_worker'][-1]:.0f}); "
            f"one thread {found['single'][-1]['cpu_ms']:.0f} ms/image"
        )
    return _summary(found, count, list(groups))


def _one_rep(reference, onnx, arrays, rig, stages, photos, count, groups):
    """(name, value) pairs of one repetition: each side in turn, on the same photos."""
    rate, _ = direct_rate(lambda a: reference._model(a, size=reference.img_size), arrays, count)
    yield "torch", rate
    rate, cpu_per_image = direct_rate(onnx.detect, arrays, count)
    yield "onnx", rate
    yield "onnx_cpu", cpu_per_image
    offsets = [path.stat().st_size for path in rig.log_paths()]
    with CpuMeter(groups) as cpu:
        measured = rig.throughput(photos, count)
    for name, seconds in cpu.seconds.items():
        yield name, seconds * 1000 / count
    yield "in_worker", _model_cpu_ms(rig.log_paths(), offsets)
    yield "worker", measured["steady"]
    yield "wall", measured["wall"]
    yield "single", stages.run(photos, count)


def _summary(found: dict[str, list], count: int, groups: list[str]) -> dict:
    worker_cpu, model = found["yolo5 worker"], found["onnx_cpu"]
    single = [s["cpu_ms"] for s in found["single"]]
    outside_ratio = Summary.of([(w - m) / m for w, m in zip(worker_cpu, model, strict=True)])
    concurrency = Summary.of(
        [(w - s) / m for w, s, m in zip(worker_cpu, single, model, strict=True)]
    )
    ratio = ratios(found["worker"], found["torch"])
    return {
        "outside_ratio": outside_ratio,
        "outside_ok": outside_ratio.median <= OUTSIDE_GOAL_RATIO,
        "outside_ms": Summary.of([w - m for w, m in zip(worker_cpu, model, strict=True)]),
        "model_in_worker_ms": Summary.of(found["in_worker"]),
        "single_cpu_ms": Summary.of(single),
        "single_model_ms": Summary.of([s["model_cpu_ms"] for s in found["single"]]),
        "single_rate": Summary.of([s["rate"] for s in found["single"]]),
        "single_stages_ms": {
            name: Summary.of([s["stages_ms"][name] for s in found["single"]])
            for name in found["single"][0]["stages_ms"]
        },
        "concurrency_ms": Summary.of([w - s for w, s in zip(worker_cpu, single, strict=True)]),
        "concurrency_ratio": concurrency,
        "concurrency_ok": concurrency.median <= CONCURRENCY_GOAL_RATIO,
        "direct": Summary.of(found["torch"]),
        "onnx_direct": Summary.of(found["onnx"]),
        "onnx_cpu_ms": Summary.of(model),
        "worker": Summary.of(found["worker"]),
        "worker_wall": Summary.of(found["wall"]),
        "ratio": ratio,
        "ratio_onnx": ratios(found["worker"], found["onnx"]),
        "ok": ratio.median >= GOAL,
        "count": count,
        "cpu_ms_per_image": {name: Summary.of(found[name]) for name in groups},
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
