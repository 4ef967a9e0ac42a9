"""The worker loop, shaped like rq's Worker.work(): bootstrap → signals → loop → teardown.

Inference runs on the main thread, one image at a time. Two small thread pools do the I/O
around it, so the model never waits for the network:
- ahead: the Lookahead (yolo5/lookahead.py) receives and prepares the next jobs while the
  model works on one.
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
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from common.backoff import Backoff
from common.jsonlog import event, log_context
from yolo5.backends import ObjectDetector
from yolo5.lookahead import Lookahead
from yolo5.processing import JobProcessor, Outcome, Prepared
from yolo5.queue import JobsQueue, Message
from yolo5.visibility import VisibilityKeeper

logger = logging.getLogger(__name__)

# Jobs received ahead of the model. Two keep it fed through one slow download; more would
# only hold messages another worker (another ASG instance) could be processing.
PREFETCH = 2
# Finishing jobs (upload, record, notify) has threads of its own, and so has the lookahead (a
# poll and PREFETCH preparations): the next job's download never queues behind uploads.
# What the two pools buy, measured by make bench in one run (docs/benchmarks.md): the same
# stages one after another on one thread ran 16.3 photos/s against the worker's 30 on
# loopback moto, for the same CPU per photo (figure 1: the concurrency costs 0.02 of the
# model's CPU); under AWS-like latency the overlap matters more (figure 8).
FINISHING_THREADS = 4
FINISHING_THREAD_NAME = "finish"  # the prefix of their names (py-spy, tracebacks)
AHEAD_THREADS = PREFETCH + 1
MAX_FINISHING = 4
RECEIVE_BACKOFF = Backoff(base=2.0, cap=30.0)  # SQS unreachable: up to half a minute apart


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
        self._idle = False  # only while the long poll's request is out: see _receive()
        # Threads start lazily, on the first submit.
        self._finishing_pool = ThreadPoolExecutor(
            FINISHING_THREADS, thread_name_prefix=FINISHING_THREAD_NAME
        )
        self._ahead_pool = ThreadPoolExecutor(AHEAD_THREADS, thread_name_prefix="ahead")
        self.lookahead = Lookahead(
            queue=processor.queue,
            keeper=processor.keeper,
            prepare=processor.prepare,
            pool=self._ahead_pool,
            batch_size=batch_size,
            depth=PREFETCH,
        )
        self._finishing: list[Future[Outcome]] = []

    @property
    def queue(self) -> JobsQueue:
        return self.processor.queue

    @property
    def keeper(self) -> VisibilityKeeper:
        return self.processor.keeper

    def work(self) -> None:
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
                    delay = RECEIVE_BACKOFF.delay(failures)
                    logger.warning(
                        "receive failed (%s); retrying in %.0fs",
                        exc,
                        delay,
                        extra=event("receive.failed", retry_in_s=delay),
                    )
                    time.sleep(delay)
                    continue
                failures = 0
                self.run_until_dry(messages)
        except ForcedShutdown:
            self.forced = True
            released = self.keeper.release_all()
            logger.warning(
                "forced shutdown: released %s in-flight message(s)",
                released,
                extra=event("worker.forced", released=released),
            )
        finally:
            self.teardown()

    def bootstrap(self) -> None:
        self.keeper.start()
        self.touch_health()
        build = self.processor.build
        logger.info(
            "worker %s ready: %s (%s), queue %s, batch %s",
            build.version,
            build.model,
            build.backend,
            self.queue.url,
            self.batch_size,
            extra=event(
                "worker.ready",
                batch_size=self.batch_size,
                version=build.version,
                model=build.model,
                backend=build.backend,
            ),
        )

    def teardown(self) -> None:
        if not self.forced:
            released = self.lookahead.release()
            if released:
                logger.info(
                    "released %s job(s) received ahead",
                    released,
                    extra=event("lookahead.released", released=released),
                )
            wait(self._finishing)  # the keeper still extends their messages meanwhile
        self.keeper.stop()
        # After a forced stop don't wait for I/O threads; their messages are released.
        for pool in (self._ahead_pool, self._finishing_pool):
            pool.shutdown(wait=not self.forced, cancel_futures=True)
        logger.info(
            "worker stopped%s",
            " (forced)" if self.forced else "",
            extra=event("worker.stopped", forced=self.forced),
        )

    def touch_health(self) -> None:
        """The liveness file the container HEALTHCHECK reads: touched every iteration."""
        try:
            self.health_file.touch()
        except OSError as exc:
            logger.warning(
                "health file %s not writable: %s",
                self.health_file,
                exc,
                extra=event("health.unwritable"),
            )

    def request_stop(self, signum: int = signal.SIGTERM, frame=None) -> None:
        if self._stop:
            raise ForcedShutdown
        logger.info(
            "signal %s: stopping after the current job (again to force)",
            signum,
            extra=event("worker.stopping", signal=signum),
        )
        self._stop = True
        self.lookahead.stop()
        if self._idle:
            raise StopRequested

    def run_until_dry(self, messages: list[Message]) -> None:
        """Run these jobs, and those the lookahead receives meanwhile, until the queue runs dry
        (or a stop is requested); then the caller long-polls."""
        self.lookahead.add(messages)
        while not self._stop:
            prepared = self.lookahead.take()
            if prepared is None:
                return
            if self._stop and prepared.needs_model:
                self.keeper.release(prepared.message)  # not started: another worker takes it now
            else:
                self._finish(self.run_job(prepared))
            self.touch_health()

    def _install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    def _receive(self) -> list[Message]:
        """The idle long poll, on the main thread so the first signal can interrupt it. Only
        the request itself is interruptible (as in rq): once it has returned messages, a first
        signal just sets _stop, and the lookahead releases them at teardown."""
        self._idle = True
        try:
            return self.queue.receive(self.batch_size, self.wait_seconds)
        finally:
            self._idle = False

    def _finish(self, future: Future[Outcome]) -> None:
        self._finishing = [f for f in self._finishing if not f.done()]
        self._finishing.append(future)
        if len(self._finishing) > MAX_FINISHING:
            wait(self._finishing[:-MAX_FINISHING])

    def run_job(self, prepared: Prepared) -> Future[Outcome]:
        """A prepared job's turn: the model on this thread, then complete() (or settle(), for a
        job that needs no model or whose inference failed) on an I/O thread. The future holds
        the job's outcome."""
        if not prepared.needs_model:
            return self._finishing_pool.submit(self._guarded, self.processor.settle, prepared)
        with log_context(prediction_id=prepared.prediction_id):
            try:
                detection = self.detector.detect(prepared.image)
            except Exception as exc:  # a poison image must not stop the worker
                logger.exception("inference failed", extra=event("inference.failed"))
                prepared.error = exc
                return self._finishing_pool.submit(self._guarded, self.processor.settle, prepared)
        prepared.image = None  # the detection keeps the pixels until it has drawn on them
        return self._finishing_pool.submit(
            self._guarded, self.processor.complete, prepared, detection
        )

    def _guarded(self, stage, prepared: Prepared, *args) -> Outcome:
        """Run a finishing stage, then end its message by the outcome, on every path: this is
        the one place a started job's message ends (the keeper's rule). Whatever a stage raises
        is logged and the loop goes on."""
        try:
            outcome = stage(prepared, *args)
        except Exception:
            logger.exception(
                "job %s crashed in %s",
                prepared.prediction_id,
                stage.__name__,
                extra=event("job.crashed", stage=stage.__name__),
            )
            outcome = Outcome.CRASHED
        self.keeper.finish(prepared.message, delete=outcome.deletes)
        return outcome
