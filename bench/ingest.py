"""Figure 3 — ingest: photo updates/s polybot absorbs, and its webhook latency.

Polybot runs under gunicorn with its production settings (polybot/gunicorn.conf.py), behind
the Telegram emulator, against the moto server, with no worker (so every job stays in the
queue and can be counted). Photos are offered open-loop through the emulator's control API;
the latency is the emulator round trip (store the file, build the update, deliver it to the
webhook, get polybot's answer) — an upper bound on the webhook's own latency. The sweep over
offered rates gives the load curve; the sustained run is the 60 s figure.
"""

from __future__ import annotations

import itertools
import os

from bench.offer import achieved_rate, offer
from bench.procs import CpuMeter, RssSampler
from bench.stats import percentile

GOAL_RATE = 30.0
GOAL_P95_MS = 500.0
_chat_ids = itertools.count(100_000)


def queued(stack) -> int:
    attrs = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.outputs["JOBS_QUEUE_URL"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"])


def offer_photos(stack, photos: list[bytes], rate: float, seconds: float) -> dict:
    count = max(2, round(rate * seconds))
    base = next(_chat_ids) * 10_000
    before = queued(stack)  # 0 after the previous point's purge, unless moto lags

    def send(http, index: int) -> int:
        return stack.send_photo(http, base + index, photos[index % len(photos)])

    results = offer(send, rate, count)
    latencies = [r.latency_ms for r in results if r.ok]
    jobs = queued(stack) - before
    # Start every point from an empty queue: moto's SQS slows down as a queue grows (real SQS
    # does not), and without a worker here the jobs would pile up from point to point.
    _drain(stack.client("sqs"), stack.outputs["JOBS_QUEUE_URL"])
    ok = sum(r.ok for r in results)
    return {
        "offered": rate,
        "count": count,
        "achieved": achieved_rate(results),
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "p99": percentile(latencies, 99),
        "ok": ok,
        "server_errors": sum(r.status >= 500 for r in results),
        "failed": count - ok,
        "lost": ok - jobs,
        "max_late_ms": max((r.started - r.scheduled) * 1000 for r in results),
    }


def run(stack, photos, sweep_rates, sweep_seconds: float, rate: float, seconds: float) -> dict:
    sweep = []
    for offered in sweep_rates:
        point = offer_photos(stack, photos, offered, sweep_seconds)
        print(
            f"  fig3 sweep {offered:5.1f}/s: achieved {point['achieved']:.1f}/s, "
            f"p95 {point['p95']:.0f} ms, failed {point['failed']}"
        )
        sweep.append(point)
    # Where the CPU goes per photo: on 2 shared cores this, not polybot alone, sets the ceiling.
    groups = {
        "polybot (gunicorn)": lambda: stack.pids("gunicorn"),
        "Telegram emulator": lambda: stack.pids("telegram_emulator"),
        "moto server": lambda: stack.pids("moto_server"),
        "load generator (bench)": lambda: [os.getpid()],
    }
    with RssSampler(lambda: stack.pids("gunicorn")) as memory, CpuMeter(groups) as cpu:
        sustained = offer_photos(stack, photos, rate, seconds)
    sustained["cpu_ms_per_photo"] = {
        name: used * 1000 / max(1, sustained["ok"]) for name, used in cpu.seconds.items()
    }
    print(
        f"  fig3 sustained {rate}/s for {seconds:.0f} s: achieved {sustained['achieved']:.1f}/s, "
        f"p95 {sustained['p95']:.0f} ms, lost {sustained['lost']}, 5xx {sustained['server_errors']}"
    )
    ok = (
        sustained["achieved"] >= GOAL_RATE * 0.98  # open loop: the rate offered is the ceiling
        and sustained["p95"] < GOAL_P95_MS
        and sustained["lost"] == 0
        and sustained["server_errors"] == 0
        and sustained["failed"] == 0
    )
    return {
        "sweep": sweep,
        "sustained": sustained,
        "seconds": seconds,
        "polybot_peak_mib": memory.peak_mib,
        "ok": ok,
    }


def _drain(sqs, url: str) -> None:
    """Empty the queue (PurgeQueue is limited to once a minute)."""
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ],
        )
