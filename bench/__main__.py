"""`make bench` → `python -m bench`: measure the seven figures and write docs/benchmarks.md.

    python -m bench [--quick] [--only 1,2,5] [--reps 3] [--seconds 60] [--note "..."]
                    [--compare REV]

Order: the worker figures on their own rigs (1, 2, 5), then polybot alone (3), then the whole
stack with one worker (4, 7); memory (6) is sampled along the way; last the worker under
AWS-like latency, its AWS calls per photo and its profile (8), beside the worker of commit REV
when --compare is given; and the AWS calls per photo of polybot and the worker together (9).
--quick shortens every duration for development; the full run stays under 15 minutes on a
quiet 2-core machine.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from local.config import ROOT
from local.harness import READY_TIMEOUT, local_stack
from local.samples import sample_image
from local.up import git_commit
from yolo5.weights import Source, WeightsError

MB = 1e6 / 2**20  # MiB per MB
WORKER_RSS_GOAL_MB = 400  # one worker process on the ONNX backend (no torch in it)


def durations(quick: bool, reps: int | None) -> dict:
    if quick:
        plan = dict(
            reps=2,
            count=6,
            skeleton=2,
            scale_count=6,
            scale_reps=1,
            sweep=[10, 30],
            sweep_s=3,
            seconds=5,
            light=3,
            backlog_s=5,
            whole=4,
            sustained_reps=1,
        )
    else:
        plan = dict(
            reps=5,  # figures 1 and 2 are ratios of short runs: more pairs, steadier median
            count=24,
            skeleton=6,
            scale_count=20,
            scale_reps=3,
            sweep=[10, 20, 30, 45, 60],
            sweep_s=6,
            seconds=60,
            light=30,
            backlog_s=60,
            whole=20,
            sustained_reps=3,
        )
    if reps:
        plan["reps"] = plan["scale_reps"] = reps
    return plan


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short durations (development)")
    parser.add_argument("--only", default="1,2,3,4,5,6,7,8,9", help="figures to run, e.g. 1,2")
    parser.add_argument(
        "--compare", metavar="REV", help="figure 8 also runs the worker of this commit"
    )
    parser.add_argument("--reps", type=int, help="repetitions per measurement")
    parser.add_argument("--seconds", type=float, help="sustained ingest/backlog duration")
    parser.add_argument("--rate", type=float, default=30.0, help="sustained rate, photos/s")
    parser.add_argument("--batch", type=int, default=1, help="WORKER_BATCH_SIZE (prod: 1)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="YOLO_THREADS for figures 1, 2, 4, 7 (the production default; figure 5 shows why)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--note", help="a line for the report (e.g. 'machine was shared')")
    return parser


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    only = {int(x) for x in args.only.split(",") if x.strip()}
    plan = durations(args.quick, args.reps)
    if args.seconds:
        plan["seconds"] = plan["backlog_s"] = args.seconds
    try:  # found the way the worker finds them: YOLO_WEIGHTS, the cache, the pinned download
        weights = Source.from_env().resolve()
    except WeightsError as err:
        print(f"bench: no usable weights ({err}); set YOLO_WEIGHTS", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per stub request otherwise
    # SIGTERM unwinds like Ctrl-C, so every process the run started is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.environ.setdefault("YOLOv5_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    load = psutil.getloadavg()[0]
    started = time.monotonic()
    results = run_figures(only, plan, weights, args)
    meta = {"quick": args.quick, "weights": weights.name, "load": load, "note": args.note}
    _write(results, meta, args.out)
    print(f"bench: {time.monotonic() - started:.0f} s; wrote {args.out / 'benchmarks.md'}")
    return 0


def _write(results: dict, meta: dict, out: Path) -> None:
    """docs/benchmarks.md and its plots (the profiles are written by the figures)."""
    from bench import plots, report

    out.mkdir(parents=True, exist_ok=True)
    if "fig3" in results:
        plots.load_curve(results["fig3"], out / "bench-load.png")
    if "fig7" in results:
        plots.backlog(results["fig7"], out / "bench-backlog.png")
    text = report.render(results, meta)
    (out / "benchmarks.md").write_text(text)
    print(text)


@dataclass
class Run:
    """One `make bench` run: what was asked, and what it has found so far."""

    only: set[int]
    plan: dict
    weights: Path
    args: argparse.Namespace
    photos: list[bytes]
    results: dict = field(default_factory=dict)
    worker_peaks: list[float] = field(default_factory=list)  # MiB, one per figure that saw one
    polybot_peaks: list[float] = field(default_factory=list)


def run_figures(only: set[int], plan: dict, weights: Path, args) -> dict:
    photos = [sample_image(n).read_bytes() for n in ("bus.jpg", "zidane.jpg")]
    run = Run(only, plan, weights, args, photos)
    for figures, step in _STEPS:
        if only & figures:
            step(run)
    if 6 in only and run.worker_peaks and run.polybot_peaks:
        worker, polybot = max(run.worker_peaks), max(run.polybot_peaks)
        run.results["fig6"] = {
            "worker": worker,
            "polybot": polybot,
            "worker_ok": worker <= WORKER_RSS_GOAL_MB * MB,
            "polybot_ok": polybot <= 300 * MB,
            "ok": worker <= WORKER_RSS_GOAL_MB * MB and polybot <= 300 * MB,
        }
    return run.results


def _model_step(run: Run) -> None:
    run.results.update(_model_figures(run.only, run.plan, run.weights, run.photos, run.args))
    run.worker_peaks.append(run.results.pop("worker_peak_mib"))


def _scaleout_step(run: Run) -> None:
    from bench import scaleout

    print("fig 5: scale-out on one machine")
    plan = run.plan
    found = scaleout.run(
        run.weights, run.photos, plan["scale_count"], plan["scale_reps"], run.args.batch
    )
    run.results["fig5"] = found
    run.worker_peaks.append(found["worker_peak_mib"])


def _ingest_step(run: Run) -> None:
    from bench import ingest

    print("fig 3: ingest (polybot alone)")
    plan, args = run.plan, run.args
    with local_stack(_stack_dir(), workers=0) as running:
        found = ingest.run(
            running,
            run.photos,
            plan["sweep"],
            plan["sweep_s"],
            args.rate,
            plan["seconds"],
            args.out / "profile-polybot.svg",
            plan["sustained_reps"],
        )
    run.results["fig3"] = found
    run.polybot_peaks.append(found["polybot_peak_mib"])


def _stack_step(run: Run) -> None:
    from bench import backlog, latency

    plan, args = run.plan, run.args
    with local_stack(
        _stack_dir(),
        workers=1,
        weights=run.weights,
        WORKER_BATCH_SIZE=str(args.batch),
        YOLO_THREADS=str(args.threads),
    ) as running:
        running.wait_workers_ready(timeout=READY_TIMEOUT)  # the model warm, not just polybot
        if 4 in run.only:
            print("fig 4: end-to-end overhead at light load")
            run.results["fig4"] = latency.run(running, run.photos, plan["light"])
        if 7 in run.only:
            print(f"fig 7: backlog at {args.rate}/s for {plan['backlog_s']} s, one worker")
            found = backlog.run(running, run.photos, args.rate, plan["backlog_s"], timeout=900)
            run.results["fig7"] = found
            run.worker_peaks.append(found["worker_peak_mib"])
            run.polybot_peaks.append(found["polybot_peak_mib"])


def _sidebyside_step(run: Run) -> None:
    from bench import sidebyside

    print("fig 8: the worker under AWS-like latency, its AWS calls and its profile")
    plan = run.plan
    with _worker_sources(run.args.compare) as sources:
        run.results["fig8"] = sidebyside.run(
            run.weights, run.photos, plan["count"], plan["reps"], sources, run.args
        )


def _wholepath_step(run: Run) -> None:
    from bench import wholepath

    print("fig 9: AWS calls per photo on the whole path, per process")
    found = wholepath.run(_stack_dir(), run.weights, run.photos, run.plan["whole"])
    run.results["fig9"] = found


# In this order: the worker on its own rigs, polybot alone, the whole stack, then the new
# side-by-side and call counts. Memory (6) is the peak over the steps that sampled it.
_STEPS = (
    ({1, 2}, _model_step),
    ({5}, _scaleout_step),
    ({3, 6}, _ingest_step),
    ({4, 7}, _stack_step),
    ({8}, _sidebyside_step),
    ({9}, _wholepath_step),
)


@contextmanager
def _worker_sources(compare: str | None) -> Iterator[dict[str, Path]]:
    """{label: checkout} of the workers figure 8 runs: this one, and REV's in a git worktree."""
    this = git_commit(ROOT)
    sources = {f"this checkout ({this[:10] if this else 'no git'})": ROOT}
    if not compare:
        yield sources
        return
    tree = Path(tempfile.mkdtemp(prefix="bench-compare-"))
    git = ["git", "-C", str(ROOT)]
    subprocess.run([*git, "worktree", "add", "--detach", str(tree), compare], check=True)
    try:
        yield {**sources, f"{compare} ({git_commit(tree)[:10]})": tree}
    finally:
        subprocess.run([*git, "worktree", "remove", "--force", str(tree)], check=False)


def _stack_dir() -> Path:
    """Where a benchmark's local stack keeps its state and logs (left for a look afterwards)."""
    return Path(tempfile.mkdtemp(prefix="bench-stack-"))


def _model_figures(only, plan, weights, photos, args) -> dict:
    from bench import efficiency, skeleton
    from bench.procs import RssSampler
    from bench.rig import WorkerRig
    from bench.stages import SingleThreadedStages
    from yolo5.backends import exported
    from yolo5.images import decode_rgb
    from yolo5.onnx_detector import OnnxDetector
    from yolo5.torch_detector import Detector
    from yolo5.weights import Source

    threads = args.threads
    reference = Detector(weights, "yolov5n", threads=threads)
    reference.warm_up()
    model = exported(weights, Source.from_env().cache_dir, "yolov5n")  # as the workers find it
    onnx = OnnxDetector(model, "yolov5n", threads=threads)
    onnx.warm_up()
    arrays = [decode_rgb(data, 10**8, 10**8) for data in photos]
    found = {}
    with WorkerRig(weights, 1, threads, args.batch) as rig, RssSampler(rig.pids) as memory:
        if 1 in only:
            print(f"fig 1: worker efficiency ({threads} intra-op thread(s))")
            stages = SingleThreadedStages(rig, onnx)
            found["fig1"] = efficiency.run(
                reference, onnx, arrays, rig, stages, photos, plan["count"], plan["reps"]
            )
        if 2 in only:
            print("fig 2: against the course skeleton")
            found["fig2"] = skeleton.run(
                weights, rig, photos, (plan["skeleton"], plan["count"]), plan["reps"]
            )
    found["worker_peak_mib"] = memory.peak_single_mib
    return found


if __name__ == "__main__":
    sys.exit(main())
