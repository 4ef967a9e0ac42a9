"""Figure 7 — backlog at 30 photos/s for 60 s with one worker, through the whole local stack.

The load test's local mode (bench.loadtest) offers the photos through the emulator, samples
the queue every second, waits for the queue to drain and checks that every photo (each in
its own chat) got exactly one answer.
"""

from __future__ import annotations

from bench import loadtest
from bench.loadtest_local import local_target
from bench.procs import RssSampler


def run(stack, photos: list[bytes], rate: float, seconds: float, timeout: float) -> dict:
    count = round(rate * seconds)
    target = local_target(photos, cfg=stack.cfg)
    with (
        RssSampler(lambda: stack.pids_of("-m yolo5")) as worker,
        RssSampler(lambda: stack.pids_of("gunicorn")) as polybot,
    ):
        outcome = loadtest.run(target, rate, count, 1.0, timeout, progress=False)
    exactly_once = outcome.answers.get("1", 0)
    drain = outcome.drain_seconds
    drained = "NOT within the timeout" if drain is None else f"after {drain:.0f} s"
    print(
        f"  fig7: sent {outcome.sent}/{count} in {outcome.send_seconds:.0f} s, drained "
        f"{drained}, answers {outcome.answers}"
    )
    peak = max((s.visible + s.in_flight for s in outcome.samples), default=0)
    return {
        "rate": rate,
        "seconds": seconds,
        "count": count,
        "outcome": outcome,
        "peak_depth": peak,
        "exactly_once": exactly_once,
        "worker_peak_mib": worker.peak_single_mib,
        "polybot_peak_mib": polybot.peak_mib,
        "ok": exactly_once == count and drain is not None,
    }
