"""Figure 9 — AWS calls per photo on the whole path, per process: polybot and the worker.

The local stack's processes one by one (local/harness.py's local_pieces), with polybot's and
the worker's AWS endpoint pointed at bench/awsproxy.py in front of moto (no delay): every
request is counted by operation and by the process that sent it (its client port's owner).
Photos go in through the Telegram emulator one after another, and the window closes once every
chat has its annotated photo and the worker's last delete is in.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from pathlib import Path

import psutil

from bench.awsproxy import aws_proxy
from bench.procs import CpuMeter
from local.harness import local_pieces
from local.servers import free_port

SETTLE_S = 2.0  # the worker deletes a job after polybot has answered /results
_chats = itertools.count(300_000)


def process_label(pid: int) -> str:
    try:
        command = " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return "gone"
    if "gunicorn" in command:
        return "polybot"
    return "yolo5 worker" if "yolo5" in command else "other"


def run(tmp: Path, weights: Path, photos: list[bytes], count: int) -> dict:
    moto_port = free_port()
    upstream = f"http://127.0.0.1:{moto_port}"
    with (
        aws_proxy(upstream, by_process=process_label) as proxy,
        local_pieces(
            tmp,
            workers=1,
            weights=weights,
            service_env={"AWS_ENDPOINT_URL": proxy.url},
            MOTO_PORT=str(moto_port),
        ) as stack,
    ):
        stack.wait_workers_ready()
        time.sleep(SETTLE_S)
        proxy.take_counts()  # start-up: the token's secret, the queue's attributes
        chats = [next(_chats) for _ in range(count)]
        groups = {
            "polybot": lambda: stack.pids_of("gunicorn"),
            "yolo5 worker": lambda: stack.pids_of("-m yolo5"),
        }
        with CpuMeter(groups) as cpu:
            for index, chat in enumerate(chats):
                stack.send_photo(chat, photos[index % len(photos)])
            for chat in chats:
                stack.wait_for_photo(chat)
            time.sleep(SETTLE_S)
        counts = proxy.take_counts()
    per_process: dict[str, Counter] = {}
    for key, calls in counts.items():
        process, operation = key.split(": ", 1)
        per_process.setdefault(process, Counter())[operation] = calls
    return {
        "count": count,
        # The whole path's CPU per photo, intake and answer: figure 3 measures the intake only.
        "cpu_ms_per_photo": {name: used * 1000 / count for name, used in cpu.seconds.items()},
        "per_photo": {
            process: {op: n / count for op, n in sorted(ops.items())}
            for process, ops in sorted(per_process.items())
        },
    }
