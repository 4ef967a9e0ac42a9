"""Real yolo5 worker processes against a moto server and a stub /results, fed known jobs.

What figures 1, 2, 5 and 6 measure: `python -m yolo5` exactly as deployed (its own process,
its own settings from the environment), so every number includes the whole worker path:
SQS receive → S3 download → decode → detect → annotate → S3 upload → DynamoDB → POST
/results → delete.

With `aws_delays_ms`, the workers reach moto through bench/awsproxy.py, which counts every
request and delays it like a round trip to AWS; `source` runs the worker of another checkout
(`make bench` with --compare REV) against the same rig, for a side-by-side in one run.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import boto3

from bench.awsproxy import RESULTS_LIKE_MS, AwsProxy, aws_proxy
from bench.jobs import JobInjector, bound_to
from bench.procs import ResultsStub, child_env, moto_server, stop
from local.bootstrap import create_resources
from local.config import ROOT
from local.samples import sample_image
from local.servers import serve_wsgi

READY_TIMEOUT = 180
# Jobs run through every fresh rig before anything is measured: the first inference on each
# photo's letterboxed shape, the first connections and botocore's lazy loading are one-off
# costs, not the steady state the figures are about.
WARM_UP_JOBS = 4


class WorkerRig:
    """`with WorkerRig(weights, processes=1, threads=1) as rig: rig.throughput(photos, 30)`."""

    def __init__(
        self,
        weights: Path,
        processes: int = 1,
        threads: int = 1,
        batch: int = 1,
        backend: str = "onnx",
        aws_delays_ms: dict[str, float] | None = None,
        source: Path = ROOT,
    ):
        self.weights = weights
        self.aws_delays_ms = aws_delays_ms
        self.source = source
        self.proxy: AwsProxy | None = None
        self.backend = backend
        self.processes = processes
        self.threads = threads
        self.batch = batch
        self.stub = ResultsStub(RESULTS_LIKE_MS / 1000 if aws_delays_ms else 0.0)
        self.workers: list[subprocess.Popen] = []
        self._stack = ExitStack()
        self._tmp = Path(tempfile.mkdtemp(prefix="bench-rig-"))

    def __enter__(self) -> WorkerRig:
        try:
            moto_url = self._stack.enter_context(moto_server())
            stub_url = self._stack.enter_context(serve_wsgi(self.stub))
            self.stub_url, self.results_url = stub_url, f"{stub_url}/results"
            session = boto3.Session(
                region_name="us-east-1",
                aws_access_key_id="bench",
                aws_secret_access_key="bench",  # noqa: S106 - moto accepts anything
            )
            self._endpoint = self.moto_url = moto_url
            if self.aws_delays_ms is not None:
                self.proxy = self._stack.enter_context(aws_proxy(moto_url, self.aws_delays_ms))
                self._endpoint = self.proxy.url
            self.session = session
            resources = create_resources(bound_to(session, moto_url), "bench", 60)
            self.injector = JobInjector(bound_to(session, moto_url), resources)
            for index in range(self.processes):
                self.workers.append(self._start_worker(index, resources, stub_url))
            self._wait_ready()
            self.warm_up()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        for worker in self.workers:
            stop(worker, 60)
        self._stack.close()

    def warm_up(self) -> None:
        photos = [sample_image(name).read_bytes() for name in ("bus.jpg", "zidane.jpg")]
        self.throughput(photos, WARM_UP_JOBS * self.processes)

    def pids(self) -> list[int]:
        return [w.pid for w in self.workers if w.poll() is None]

    def throughput(self, photos: list[bytes], count: int, timeout: float = 600) -> dict:
        """Send `count` jobs at once; images/s from the first to the last /results call."""
        jobs = [self.injector.stage(photos[i % len(photos)], 9000 + i) for i in range(count)]
        self.stub.reset()
        started = time.perf_counter()
        self.injector.send(jobs)
        if not self.stub.wait_for(count, timeout):
            raise RuntimeError(f"only {len(self.stub.calls)}/{count} results; see {self._tmp}")
        times = sorted(t for t, _ in self.stub.calls)
        ids = {pid for _, pid in self.stub.calls}
        if ids != {job.prediction_id for job in jobs}:
            raise RuntimeError("the results do not match the jobs sent")
        steady = (count - 1) / (times[-1] - times[0]) if count > 1 else float("nan")
        return {"steady": steady, "wall": count / (times[-1] - started)}

    def log_paths(self) -> list[Path]:
        return [self._tmp / f"worker{i}.log" for i in range(self.processes)]

    def worker_env(self, index: int, resources, stub_url: str) -> dict[str, str]:
        """The environment a worker of this rig runs with (as the deployed one: settings only)."""
        return child_env(
            AWS_ENDPOINT_URL=self._endpoint,
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 - moto accepts anything
            AWS_REGION="us-east-1",
            JOBS_QUEUE_URL=resources.queue_url,
            PREDICTIONS_TABLE=resources.table,
            IMAGES_BUCKET=resources.bucket,
            POLYBOT_RESULTS_URL=f"{stub_url}/results",
            YOLO_WEIGHTS=str(self.weights),
            YOLO_THREADS=str(self.threads),
            YOLO_BACKEND=self.backend,
            WORKER_BATCH_SIZE=str(self.batch),
            HEALTH_FILE=str(self._tmp / f"worker{index}.health"),
            YOLO_AUTOINSTALL="false",
            YOLOv5_AUTOINSTALL="false",
        )

    def _start_worker(self, index: int, resources, stub_url: str) -> subprocess.Popen:
        env = self.worker_env(index, resources, stub_url)
        log = self.log_paths()[index].open("w")
        return subprocess.Popen(
            [sys.executable, "-m", "yolo5"], cwd=self.source, env=env, stdout=log, stderr=log
        )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        healths = [self._tmp / f"worker{i}.health" for i in range(self.processes)]
        while not all(h.exists() for h in healths):
            if any(w.poll() is not None for w in self.workers) or time.monotonic() > deadline:
                raise RuntimeError(f"worker(s) did not start; logs in {self._tmp}")
            time.sleep(0.2)
