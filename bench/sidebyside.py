"""Figure 8 — the worker under AWS-like latency, its AWS calls per photo, its CPU profile; and
the same for the worker of another commit (`--compare REV`), side by side in one run.

Per source (this checkout, and the other commit's in a git worktree) two rigs run at once:
- loopback: the worker against moto directly, as in figure 1: its CPU per image (psutil), then
  one more run under py-spy, whose flame graph goes to docs/;
- AWS-like: the worker reaches moto through bench/awsproxy.py, which delays each request like
  a round trip to AWS and counts it; photos/s here is what the concurrency is for, and the
  counts are the AWS calls per photo.
Repetitions alternate between the sources, so machine noise hits them alike.
"""

from __future__ import annotations

import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from bench.awsproxy import AWS_LIKE_MS, RESULTS_LIKE_MS
from bench.procs import CpuMeter
from bench.profiling import flame_graph
from bench.rig import WorkerRig
from bench.stats import Summary, ratios

PROFILES = ("profile-worker.svg", "profile-worker-compare.svg")  # this checkout, --compare REV
SETTLE_S = 1.0  # after the last /results: the last job's DeleteMessage is still on its way


def run(weights, photos, count: int, reps: int, sources: dict[str, Path], args) -> dict:
    found: dict = {
        "sources": list(sources),
        "delays_ms": {**AWS_LIKE_MS, "/results": RESULTS_LIKE_MS},
    }
    with ExitStack() as stack:
        rigs = {}
        for name, source in sources.items():
            loop = WorkerRig(weights, 1, args.threads, args.batch, source=source)
            aws = WorkerRig(
                weights, 1, args.threads, args.batch, aws_delays_ms=AWS_LIKE_MS, source=source
            )
            rigs[name] = (stack.enter_context(loop), stack.enter_context(aws))
        per = {name: {"cpu_ms": [], "aws_rate": [], "calls": Counter()} for name in sources}
        for rep in range(reps):
            for name, (loop, aws) in rigs.items():
                with CpuMeter({"worker": loop.pids}) as cpu:
                    loop.throughput(photos, count)
                per[name]["cpu_ms"].append(cpu.seconds["worker"] * 1000 / count)
                aws.proxy.take_counts()
                per[name]["aws_rate"].append(aws.throughput(photos, count)["steady"])
                time.sleep(SETTLE_S)
                per[name]["calls"].update(aws.proxy.take_counts())
                print(
                    f"  fig8 rep {rep + 1} {name}: {per[name]['cpu_ms'][-1]:.0f} ms CPU/image, "
                    f"{per[name]['aws_rate'][-1]:.2f}/s under AWS-like latency"
                )
        # One file per role, not per commit: the report says which commit each one shows.
        for (name, (loop, _aws)), svg in zip(rigs.items(), PROFILES, strict=False):
            found.setdefault("profiles", {})[name] = _profile(loop, photos, count, args.out / svg)
    photos_run = count * reps
    for name, measured in per.items():
        found[name] = {
            "cpu_ms": Summary.of(measured["cpu_ms"]),
            "aws_rate": Summary.of(measured["aws_rate"]),
            "calls_per_photo": {op: n / photos_run for op, n in sorted(measured["calls"].items())},
        }
    if len(sources) == 2:
        this, other = sources
        found["aws_rate_ratio"] = ratios(per[this]["aws_rate"], per[other]["aws_rate"])
        found["cpu_ratio"] = ratios(per[this]["cpu_ms"], per[other]["cpu_ms"])
    return found


def _profile(rig: WorkerRig, photos, count: int, svg: Path) -> str | None:
    """The worker's flame graph over one more throughput run (not a measured one)."""
    (pid,) = rig.pids()
    with flame_graph(pid, svg) as graph:
        rig.throughput(photos, count)
    return graph["file"]
