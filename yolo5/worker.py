"""The worker loop, shaped like rq's Worker.work(): bootstrap → signals → loop → teardown.

Inference runs on the main thread, one image at a time. A small thread pool does the I/O
around it, so the model never waits for the network:
- ahead: while the model works on one job, the next ones (at most PREFETCH) are received,
  downloaded and decoded. The lookahead spans receives, so it works with the production batch
  size of 1: a short poll for the next message goes out as soon as a job reaches the model.
- behind: finished jobs are uploaded, recorded and notified while the model works on the next
  one (at most MAX_FINISHING pending, so a slow S3 or polybot can't pile up images in memory).
Only an empty pipeline long-polls, and it does so on the main thread, where a signal can cut
the poll short.

Shutdown has two stages. The first SIGTERM/SIGINT stops receiving: the job on the model is
finished, the ones received ahead are released (visibility 0) for another worker. A second
signal forces it: every in-flight message is released and the process exits at once.
"""

from __future__ import annotations

import logging
import signal
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from common.jsonlog import log_context
from yolo5.backends import ObjectDetector
from yolo5.processing import JobProcessor, Prepared
from yolo5.queue import JobsQueue, Message
from yolo5.visibility import VisibilityKeeper

logger = logging.getLogger(__name__)

# Jobs received ahead of the model. Two keep it fed through one slow download; more would
# only hold messages another worker (another ASG instance) could be processing.
PREFETCH = 2
IO_THREADS = 4
MAX_FINISHING = 4
RECEIVE_BACKOFF_CAP = 30.0


class StopRequested(BaseException):  # botocore catches Exception inside its HTTP send
    """Raised out of an idle long poll by the first signal: nothing is in flight."""


class ForcedShutdown(BaseException):  # escapes `except Exception` on purpose
    """Raised by the second signal wherever the main thread is."""


class Worker:
    """The loop around one JobProcessor. It uses the processor's queue and visibility keeper,
    so the loop and the stages cannot be wired to different ones."""

    def __init__(
        self,
        *,
        processor: JobProcessor,
        detector: ObjectDetector,
        batch_size: int,
        wait_seconds: int,
        health_file: Path,
    ) -> None:
        self.processor = processor
        self.detector = detector
        self.batch_size = batch_size
        self.wait_seconds = wait_seconds
        self.health_file = health_file
        self.forced = False
        self._stop = False
        self._idle = False
        self._pool: ThreadPoolExecutor | None = None
        self._received: deque[Message] = deque()  # received, not yet being prepared
        self._ahead: deque[Future] = deque()  # prepare() of received jobs, in receive order
        self._fetching: Future | None = None  # a short poll for the next jobs
        self._finishing: list[Future] = []

    @property
    def queue(self) -> JobsQueue:
        return self.processor.queue

    @property
    def keeper(self) -> VisibilityKeeper:
        return self.processor.keeper

    def work(self) -> int:
        self.bootstrap()
        self._install_signal_handlers()
        failures = 0
        try:
            while not self._stop:
                self.touch_health()
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
                self.run_until_dry(messages)
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
        self.touch_health()
        logger.info("worker ready: queue %s, batch %s", self.queue.url, self.batch_size)

    def teardown(self) -> None:
        if not self.forced:
            self.release_ahead()
            wait(self._finishing)  # the keeper still extends their messages meanwhile
        self.keeper.stop()
        if self._pool is not None:
            # After a forced stop don't wait for I/O threads; their messages are released.
            self._pool.shutdown(wait=not self.forced, cancel_futures=True)
        logger.info("worker stopped%s", " (forced)" if self.forced else "")

    def touch_health(self) -> None:
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

    def run_until_dry(self, messages: list[Message]) -> None:
        """Run these jobs, and those the lookahead receives meanwhile, until the queue runs dry
        (or a stop is requested); then the caller long-polls."""
        self._received.extend(messages)
        self._refill()
        while not self._stop:
            self._collect_fetch()
            if not self._ahead:
                return
            self._step()

    def release_ahead(self) -> None:
        """Give back the jobs received ahead of the model (after a stop): another worker
        takes them right away instead of after the visibility timeout."""
        self._collect_fetch(block=True)
        while self._ahead:
            self.keeper.release(self._ahead.popleft().result().message)
        while self._received:
            self.keeper.release(self._received.popleft())

    def _step(self) -> None:
        """The oldest received job through the model; the pipeline is topped up around it."""
        prepared: Prepared = self._ahead.popleft().result()
        self._refill()
        self._top_up()
        if self._stop and prepared.image is not None:
            self.keeper.release(prepared.message)  # not started: another worker takes it now
        else:
            self._finish(self.run_job(prepared))
        self.touch_health()

    def _refill(self) -> None:
        """Download and decode received jobs on the I/O threads, at most PREFETCH at a time
        (a batch of large photos must not be decoded into memory all at once)."""
        while self._received and len(self._ahead) < PREFETCH and not self._stop:
            self._ahead.append(self._pool.submit(self.processor.prepare, self._received.popleft()))

    def _install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    def _receive(self) -> list[Message]:
        """The idle long poll, on the main thread so the first signal can interrupt it. Only
        the call itself is interruptible: once it has returned messages, a first signal just
        sets _stop, and they reach the pipeline, which releases them at teardown."""
        self._idle = True
        try:
            messages = self.queue.receive(self.batch_size, self.wait_seconds)
        finally:
            self._idle = False
        return self._keep(messages)

    def _keep(self, messages: list[Message]) -> list[Message]:
        """Keep what came invisible while it is worked on."""
        for message in messages:
            self.keeper.track(message)
        return messages

    def _top_up(self) -> None:
        wanted = min(self.batch_size, PREFETCH - len(self._ahead) - len(self._received))
        if self._stop or self._fetching is not None or wanted < 1:
            return
        self._fetching = self._pool.submit(self._fetch, wanted)

    def _fetch(self, count: int) -> list[Prepared]:
        """A short poll (no wait), and the download and decode of what it brings: an empty
        answer just means the pipeline drains and the main loop goes back to long polling."""
        try:
            messages = self._keep(self.queue.receive(count, 0))
        except (ClientError, BotoCoreError) as exc:
            logger.warning("prefetch receive failed (%s); the next long poll retries", exc)
            return []
        return [self.processor.prepare(message) for message in messages]

    def _collect_fetch(self, block: bool = False) -> None:
        """Hand the short poll's messages to the pipeline once it is back; wait for it only
        when nothing else is ahead (or at shutdown), never start a second poll meanwhile."""
        fetching = self._fetching
        if fetching is None or not (block or fetching.done() or not self._ahead):
            return
        self._fetching = None
        for prepared in fetching.result():
            ready: Future = Future()
            ready.set_result(prepared)
            self._ahead.append(ready)

    def _finish(self, future: Future) -> None:
        self._finishing = [f for f in self._finishing if not f.done()]
        self._finishing.append(future)
        if len(self._finishing) > MAX_FINISHING:
            wait(self._finishing[:-MAX_FINISHING])

    def run_job(self, prepared: Prepared) -> Future[str]:
        """A prepared job's turn: the model on this thread, then complete() (or settle(), for a
        job that needs no model or whose inference failed) on an I/O thread. The future holds
        the job's outcome."""
        if prepared.image is None:
            return self._pool.submit(self._guarded, self.processor.settle, prepared)
        with log_context(prediction_id=prepared.prediction_id):
            try:
                detection = self.detector.detect(prepared.image)
            except Exception as exc:  # a poison image must not stop the worker
                logger.exception("inference failed")
                prepared.error = exc
                return self._pool.submit(self._guarded, self.processor.settle, prepared)
        prepared.image = None  # the detection keeps the pixels until it has drawn on them
        return self._pool.submit(self._guarded, self.processor.complete, prepared, detection)

    def _guarded(self, stage, prepared: Prepared, *args) -> str:
        """Last line of defence: whatever a stage raises is logged and the loop goes on."""
        try:
            return stage(prepared, *args)
        except Exception:
            logger.exception("job %s crashed in %s", prepared.prediction_id, stage.__name__)
            self.keeper.untrack(prepared.message)
            return "crashed"
