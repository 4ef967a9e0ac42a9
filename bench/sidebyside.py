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

import signal
import subprocess
import sys
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from bench.awsproxy import AWS_LIKE_MS, RESULTS_LIKE_MS
from bench.procs import CpuMeter
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
    """py-spy's flame graph of the worker over one more throughput run (not a measured one:
    sampling pauses the process). None when py-spy is missing or may not attach."""
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        return None
    (pid,) = rig.pids()
    svg.parent.mkdir(parents=True, exist_ok=True)
    command = [str(spy), "record", "--pid", str(pid), "--rate", "250", "--native"]
    command += ["--format", "flamegraph", "--output", str(svg)]
    spy_run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # attached before the first job
    rig.throughput(photos, count)
    spy_run.send_signal(signal.SIGINT)  # py-spy writes the graph when interrupted
    _out, err = spy_run.communicate(timeout=60)
    if not svg.exists():
        print(f"  fig8: py-spy wrote no profile: {err.decode(errors='replace')[-300:]}")
        return None
    return svg.name
