"""An open-loop load generator: request i starts at t0 + i/rate whatever the others do.

Open loop on purpose: a closed loop (send the next when the last returns) slows down with
the service and hides exactly the overload we want to see. Senders that fall behind show up
as `late` (start − schedule), so a saturated client is visible rather than silent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when a sender asks for sessions: the AWS load test does not
    import requests


@dataclass
class Sent:
    index: int
    scheduled: float
    started: float = 0.0
    finished: float = 0.0
    status: int = 0
    error: str | None = None

    @property
    def latency_ms(self) -> float:
        return (self.finished - self.started) * 1000

    @property
    def ok(self) -> bool:
        return self.error is None and 200 <= self.status < 300


def offer(
    send: Callable[[requests.Session | None, int], int],
    rate: float,
    count: int,
    threads: int = 64,
    on_done: Callable[[Sent], None] | None = None,
    http: bool = True,
) -> list[Sent]:
    """Call send(session, i) for i in range(count) at `rate` per second; returns every outcome.

    session: one requests.Session per sending thread, or None with http=False."""
    local = threading.local()
    results = [Sent(i, 0.0) for i in range(count)]

    def one(sent: Sent) -> None:
        session = (getattr(local, "http", None) or _new_session(local)) if http else None
        sent.started = time.perf_counter()
        try:
            sent.status = send(session, sent.index)
        except Exception as exc:  # noqa: BLE001 - every failure is recorded, none stops the run
            sent.error = f"{type(exc).__name__}: {exc}"
        sent.finished = time.perf_counter()
        if on_done:
            on_done(sent)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads, thread_name_prefix="offer") as pool:
        for sent in results:
            sent.scheduled = t0 + sent.index / rate
            delay = sent.scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, sent)
    return results


def _new_session(local) -> requests.Session:
    import requests

    local.http = requests.Session()
    return local.http


def achieved_rate(results: list[Sent]) -> float:
    done = [r for r in results if r.ok]
    if len(done) < 2:
        return float("nan")
    return len(done) / (max(r.finished for r in done) - min(r.scheduled for r in results))
