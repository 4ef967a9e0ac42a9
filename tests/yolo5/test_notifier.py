"""Calls to polybot's /results: bounded retries with backoff, clear outcomes."""

from __future__ import annotations

import pytest

from tests.support.servers import free_port
from yolo5.notifier import Notified, ResultsNotifier

PID = "3f0c8a52-7c1e-4d5b-9a8e-2b1f6c9d0e41"


def notifier(url: str, sleeps: list) -> ResultsNotifier:
    return ResultsNotifier(url, attempts=4, base_delay=1.0, max_delay=2.0, sleep=sleeps.append)


@pytest.mark.parametrize(
    ("statuses", "outcome", "calls"),
    [
        ([200], Notified.SENT, 1),
        ([503, 502, 200], Notified.SENT, 3),
        ([409, 200], Notified.SENT, 2),
        ([404], Notified.REJECTED, 1),
        ([400], Notified.REJECTED, 1),
        ([500, 500, 500, 500], Notified.UNAVAILABLE, 4),
    ],
)
def test_outcomes(results, statuses, outcome, calls):
    results.statuses = list(statuses)
    results.default = 500
    sleeps: list[float] = []
    assert notifier(results.url, sleeps).notify(PID) is outcome
    assert results.calls == [PID] * calls
    assert len(sleeps) == calls - 1
    assert all(0 <= s <= 2.0 for s in sleeps)  # capped, jittered


def test_polybot_down_is_unavailable_after_bounded_retries():
    sleeps: list[float] = []
    url = f"http://127.0.0.1:{free_port()}/results"
    assert notifier(url, sleeps).notify(PID) is Notified.UNAVAILABLE
    assert len(sleeps) == 3


def test_the_worker_waits_longer_for_results_than_polybot_may_take():
    """polybot's /results answers within RESULTS_BUDGET_SECONDS (its Telegram retries stop
    there): the worker must not give up on a call that may still send."""
    from common.contracts import RESULTS_BUDGET_SECONDS
    from yolo5.notifier import ResultsNotifier

    assert ResultsNotifier("http://polybot/results").timeout > RESULTS_BUDGET_SECONDS
