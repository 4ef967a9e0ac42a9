"""The jobs received ahead of the model, so that it never waits for the network.

While the model works on one job, the next ones are received (a short poll on an I/O thread)
and prepared (downloaded and decoded, each on its own I/O thread). This spans receives, so it
works with the production batch size of 1: a short poll for the next message goes out as soon
as a job reaches the model.

The one invariant: every message received and not yet handed to the model is tracked by the
visibility keeper and sits in exactly one of three holders, in receive order:

    poll      a short poll, and the preparation of what it brought, until take() collects
              them (at most one poll, asking for no more than there is room for);
    waiting   received by the worker's long poll, not yet being prepared;
    slots     being prepared, or prepared (at most `depth` with the poll's, so a batch of large
              photos is never decoded into memory all at once).

take() moves the oldest job out to the model; release() gives back everything in the holders.
Nothing else removes a message, so after release() no message is stranded invisible.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future

from botocore.exceptions import BotoCoreError, ClientError

from common.jsonlog import event
from yolo5.processing import Prepared
from yolo5.queue import JobsQueue, Message
from yolo5.visibility import VisibilityKeeper

logger = logging.getLogger(__name__)


class Lookahead:
    def __init__(
        self,
        *,
        queue: JobsQueue,
        keeper: VisibilityKeeper,
        prepare: Callable[[Message], Prepared],
        pool: Executor,
        batch_size: int,
        depth: int,
    ) -> None:
        self._queue = queue
        self._keeper = keeper
        self._prepare = prepare
        self._pool = pool
        self._batch_size = batch_size
        self._depth = depth
        self._poll: Future[list[Future[Prepared]]] | None = None
        self._waiting: deque[Message] = deque()
        self._slots: deque[Future[Prepared]] = deque()
        self._stopped = False

    def add(self, messages: list[Message]) -> None:
        """Messages from the worker's own (long) poll join the queue behind what is ahead."""
        for message in messages:
            self._keeper.track(message)
        self._waiting.extend(messages)
        self._fill_slots()

    def take(self) -> Prepared | None:
        """The oldest job, prepared; None when nothing is ahead and the queue has run dry (the
        worker then long-polls). Waits for the poll only when nothing else is ahead."""
        self._collect_poll(wait=not self._slots and not self._waiting)
        self._fill_slots()
        if not self._slots:
            return None
        prepared = self._slots.popleft().result()
        self._fill_slots()
        self._poll_ahead()
        return prepared

    def stop(self) -> None:
        """No new polls or preparations from now on (the first signal: shutting down)."""
        self._stopped = True

    def release(self) -> int:
        """Give back everything ahead of the model (visibility 0), so another worker takes it
        at once instead of after the visibility timeout. Returns how many were given back."""
        self.stop()
        self._collect_poll(wait=True)
        messages = [slot.result().message for slot in self._slots] + list(self._waiting)
        self._slots.clear()
        self._waiting.clear()
        for message in messages:
            self._keeper.release(message)
        return len(messages)

    def _fill_slots(self) -> None:
        while self._waiting and len(self._slots) < self._depth and not self._stopped:
            self._slots.append(self._pool.submit(self._prepare, self._waiting.popleft()))

    def _poll_ahead(self) -> None:
        room = self._depth - len(self._slots) - len(self._waiting)
        if self._stopped or self._poll is not None or room < 1:
            return
        self._poll = self._pool.submit(self._short_poll, min(self._batch_size, room))

    def _short_poll(self, count: int) -> list[Future[Prepared]]:
        """No wait: an empty answer only means the worker goes back to long-polling. What it
        brings is prepared right away, each job on its own thread, while the model is busy."""
        try:
            messages = self._queue.receive(count, 0)
        except (ClientError, BotoCoreError) as exc:
            logger.warning(
                "short poll failed (%s); the next long poll retries",
                exc,
                extra=event("lookahead.poll_failed"),
            )
            return []
        for message in messages:
            self._keeper.track(message)
        return [self._pool.submit(self._prepare, message) for message in messages]

    def _collect_poll(self, *, wait: bool) -> None:
        if self._poll is None or not (wait or self._poll.done()):
            return
        # A poll goes out only when nothing waits, and add() comes only after a dry take(), so
        # the poll's jobs are the newest: they queue up behind the slots.
        self._slots.extend(self._poll.result())
        self._poll = None
