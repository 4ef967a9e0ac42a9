"""The one retry-delay schedule: capped exponential backoff with "equal jitter".

The wait before retry n (n = 1, 2, ...) is drawn from [c/2, c], where c = min(cap, base *
2**(n-1)): it grows until the cap, never drops below half of it (a struggling service gets a
real pause), and retries from many threads or instances spread out instead of arriving
together (the jitter the AWS Architecture Blog's "Exponential Backoff And Jitter" compares).
polybot's Telegram calls, the worker's /results calls and its receive loop all use it;
delivery/deployment_group.py keeps its own, because the Lambda package is delivery/ alone and
imports nothing from common/.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    base: float = 0.5  # seconds, the first retry's ceiling
    cap: float = 8.0  # seconds, no wait is longer

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """The wait before retry number `attempt` (1 for the first retry)."""
        ceiling = min(self.cap, self.base * 2 ** max(0, attempt - 1))
        return ceiling * (0.5 + rand() / 2)
