"""The worker loop, shaped like rq's Worker.work(): bootstrap → signals → loop → teardown.

Inference runs on the main thread, one image at a time. A small thread pool does the I/O
around it: it downloads and decodes the next jobs of the batch (at most PREFETCH ahead, so a
batch of large photos can't pile up in memory) and uploads/records/notifies finished ones
while the model works on the current one.

Shutdown has two stages. The first SIGTERM/SIGINT stops receiving: the job on the model is
finished, the rest of the batch is released (visibility 0) for another worker. A second signal
forces it: every in-flight message is released and the process exits at once.
"""

from __future__ import annotations

import logging
import signal
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from yolo5.heartbeat import VisibilityKeeper
from yolo5.processing import JobProcessor, Prepared
from yolo5.queue import JobsQueue, Message

logger = logging.getLogger(__name__)

PREFETCH = 2
IO_THREADS = 3
# Finished jobs whose upload/record/notify may still be pending when the next batch starts:
# they overlap the next receive and inference, bounded so a slow S3 or polybot can't pile up.
MAX_FINISHING = 4
RECEIVE_BACKOFF_CAP = 30.0


class StopRequested(BaseException):  # botocore catches Exception inside its HTTP send
    """Raised out of an idle long poll by the first signal: nothing is in flight."""


class ForcedShutdown(BaseException):  # escapes `except Exception` on purpose
    """Raised by the second signal wherever the main thread is."""


class Worker:
    def __init__(
        self,
        queue: JobsQueue,
        processor: JobProcessor,
        keeper: VisibilityKeeper,
        detector,
        batch_size: int,
        wait_seconds: int,
        health_file: Path,
    ) -> None:
        self.queue = queue
        self.processor = processor
        self.keeper = keeper
        self.detector = detector
        self.batch_size = batch_size
        self.wait_seconds = wait_seconds
        self.health_file = health_file
        self.forced = False
        self._stop = False
        self._idle = False
        self._pool: ThreadPoolExecutor | None = None
        self._finishing: list[Future] = []

    def work(self) -> int:
        self.bootstrap()
        self._install_signal_handlers()
        failures = 0
        try:
            while not self._stop:
                self.heartbeat()
                try:
                    messages = self._receive()
                except StopRequested:
                    break
                except (ClientError, BotoCoreError) as exc:
                    failures += 1
                    delay = min(RECEIVE_BACKOFF_CAP, 2.0**failures)
                    logger.warning("receive failed (%s); retrying in %.0fs", exc, delay)
                    time.sleep(delay)
                    continue
                failures = 0
                if messages:
                    self._run_batch(messages)
        except ForcedShutdown:
            self.forced = True
            released = self.keeper.release_all()
            logger.warning("forced shutdown: released %s in-flight message(s)", released)
        finally:
            self.teardown()
        return 0

    def bootstrap(self) -> None:
        self._pool = ThreadPoolExecutor(IO_THREADS, thread_name_prefix="io")
        self.keeper.start()
        self.heartbeat()
        logger.info("worker ready: queue %s, batch %s", self.queue.url, self.batch_size)

    def teardown(self) -> None:
        if not self.forced:
            wait(self._finishing)  # the keeper still extends their messages meanwhile
        self.keeper.stop()
        if self._pool is not None:
            # After a forced stop don't wait for I/O threads; their messages are released.
            self._pool.shutdown(wait=not self.forced, cancel_futures=True)
        logger.info("worker stopped%s", " (forced)" if self.forced else "")

    def heartbeat(self) -> None:
        """The liveness file the container HEALTHCHECK reads: touched every iteration."""
        try:
            self.health_file.touch()
        except OSError as exc:
            logger.warning("health file %s not writable: %s", self.health_file, exc)

    def request_stop(self, signum: int = signal.SIGTERM, frame=None) -> None:
        if self._stop:
            raise ForcedShutdown
        logger.info("signal %s: stopping after the current job (again to force)", signum)
        self._stop = True
        if self._idle:
            raise StopRequested

    def _install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    def _receive(self) -> list[Message]:
        self._idle = True
        try:
            messages = self.queue.receive(self.batch_size, self.wait_seconds)
        finally:
            self._idle = False
        for message in messages:
            self.keeper.track(message)
        return messages

    def _run_batch(self, messages: list[Message]) -> None:
        waiting = deque(messages)
        preparing: deque[Future] = deque()
        finishing: list[Future] = []

        def refill() -> None:
            while waiting and len(preparing) < PREFETCH and not self._stop:
                preparing.append(self._pool.submit(self.processor.prepare, waiting.popleft()))

        refill()
        while preparing:
            prepared: Prepared = preparing.popleft().result()
            refill()
            if prepared.image is None:
                finishing.append(self._pool.submit(self._guarded, self.processor.settle, prepared))
            elif self._stop:
                self.keeper.release(prepared.message)
            else:
                finishing.append(self._run_model(prepared))
            self.heartbeat()
        for message in waiting:  # a stop was requested before these were started
            self.keeper.release(message)
        # Don't wait for this batch's completions: the next receive and inference overlap them.
        self._finishing = [f for f in self._finishing if not f.done()] + finishing
        if len(self._finishing) > MAX_FINISHING:
            wait(self._finishing[:-MAX_FINISHING])

    def _run_model(self, prepared: Prepared) -> Future:
        try:
            detection = self.detector.detect(prepared.image)
        except Exception as exc:  # a poison image must not stop the worker
            logger.exception("inference failed for %s", prepared.prediction_id)
            prepared.error = exc
            return self._pool.submit(self._guarded, self.processor.settle, prepared)
        prepared.image = None  # free the pixels while the upload runs
        return self._pool.submit(self._guarded, self.processor.complete, prepared, detection)

    def _guarded(self, stage, prepared: Prepared, *args) -> str:
        """Last line of defence: whatever a stage raises is logged and the loop goes on."""
        try:
            return stage(prepared, *args)
        except Exception:
            logger.exception("job %s crashed in %s", prepared.prediction_id, stage.__name__)
            self.keeper.untrack(prepared.message)
            return "crashed"
