"""Tell polybot a prediction is finished: POST <results url>?predictionId=<id>.

polybot answers 200 when the user has (now or before) been answered, 400/404 when the id is
bad or unknown (retrying cannot help), 409 when the item is not finished yet and 5xx when it
is briefly unable to; those and network errors are retried a bounded number of times, waiting
by common/backoff.py's schedule.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable

import requests

from common.backoff import Backoff
from common.contracts import RESULTS_BUDGET_SECONDS
from common.jsonlog import event

logger = logging.getLogger(__name__)

# Longer than polybot may take to answer (its Telegram retry budget, then the S3 read and the
# upload of the annotated image): a call given up on while polybot still sends would be
# repeated, answered "already notified", and lost if the first then failed.
RESULTS_TIMEOUT_SECONDS = RESULTS_BUDGET_SECONDS + 15


class Notified(enum.Enum):
    SENT = "sent"  # polybot answered the user (or had already)
    REJECTED = "rejected"  # polybot will never accept this id: give up
    UNAVAILABLE = "unavailable"  # still failing after all retries: try again on redelivery


class ResultsNotifier:
    def __init__(
        self,
        results_url: str,
        attempts: int = 4,
        base_delay: float = 0.5,
        max_delay: float = 8.0,
        timeout: float = RESULTS_TIMEOUT_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.results_url = results_url
        self.attempts = attempts
        self.backoff = Backoff(base_delay, max_delay)  # the waits between attempts
        self.timeout = timeout
        self._sleep = sleep
        self._local = threading.local()  # one requests.Session per I/O thread

    def notify(self, prediction_id: str) -> Notified:
        for attempt in range(1, self.attempts + 1):
            try:
                response = self._session().post(
                    self.results_url, params={"predictionId": prediction_id}, timeout=self.timeout
                )
            except requests.RequestException as exc:
                logger.warning(
                    "results call failed (attempt %s): %s",
                    attempt,
                    type(exc).__name__,
                    extra=event("results_call.failed", attempt=attempt, error=type(exc).__name__),
                )
            else:
                if response.ok:
                    return Notified.SENT
                if response.status_code in (400, 404):
                    logger.error(
                        "polybot rejected the result with %s",
                        response.status_code,
                        extra=event("results_call.rejected", status=response.status_code),
                    )
                    return Notified.REJECTED
                logger.warning(
                    "results call answered %s (attempt %s)",
                    response.status_code,
                    attempt,
                    extra=event(
                        "results_call.failed", attempt=attempt, status=response.status_code
                    ),
                )
            if attempt < self.attempts:
                self._sleep(self.backoff.delay(attempt))
        return Notified.UNAVAILABLE

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session
