"""Figure 5 — scale-out on one machine: 2 worker processes × 1 thread vs 1 × 1, and 1 × 2.

Each configuration is a fresh rig (moto server, stub /results, real `python -m yolo5`
processes with YOLO_THREADS set) fed the same jobs; the configurations run one after the
other, each repeated. Scaling efficiency = throughput(n) / (n × throughput(1 × 1)).
"""

from __future__ import annotations

from bench.procs import RssSampler
from bench.rig import WorkerRig
from bench.stats import Summary

CONFIGS = (
    ("1 worker × 1 thread", 1, 1),
    ("2 workers × 1 thread", 2, 1),
    ("1 worker × 2 threads", 1, 2),
)


def run(weights, photos: list[bytes], count: int, reps: int, batch: int) -> dict:
    rows, peak = {}, 0.0
    for name, processes, threads in CONFIGS:
        with WorkerRig(weights, processes, threads, batch) as rig, RssSampler(rig.pids) as mem:
            rates = [rig.throughput(photos, count)["steady"] for _ in range(reps)]
        peak = max(peak, mem.peak_single_mib)
        rows[name] = Summary.of(rates)
        print(f"  fig5 {name}: {rows[name].fmt(2, '/s')}")
    base = rows[CONFIGS[0][0]].median
    two_proc = rows[CONFIGS[1][0]].median
    two_thread = rows[CONFIGS[2][0]].median
    return {
        "rows": rows,
        "efficiency_processes": two_proc / (2 * base) if base else float("nan"),
        "efficiency_threads": two_thread / (2 * base) if base else float("nan"),
        "worker_peak_mib": peak,
    }
