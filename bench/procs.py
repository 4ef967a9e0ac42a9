"""Processes the benchmarks start: a moto server, a stub /results, memory sampling."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import psutil
from werkzeug.wrappers import Request, Response

from local import procfile
from local.config import ROOT
from local.servers import free_port, wait_for_http


def stop(process: subprocess.Popen, timeout: float = 30) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def moto_server() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        procfile.moto_argv(port),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/moto-api/", 60, "moto server")
        yield url
    finally:
        stop(process)


class ResultsStub:
    """Stands in for polybot's POST /results: records (time, predictionId), answers 200 after
    `delay_s` (polybot's own time to answer, when the rig plays AWS-like latency)."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.calls: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self.arrived = threading.Condition(self._lock)

    def __call__(self, environ, start_response):
        request = Request(environ)
        with self._lock:
            self.calls.append((time.perf_counter(), request.args.get("predictionId", "")))
            self.arrived.notify_all()
        if self.delay_s:
            time.sleep(self.delay_s)
        return Response("{}", mimetype="application/json")(environ, start_response)

    def wait_for(self, count: int, timeout: float) -> bool:
        with self._lock:
            return self.arrived.wait_for(lambda: len(self.calls) >= count, timeout)

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()


class RssSampler:
    """Samples the summed RSS of a set of processes in a thread; keeps the peak and a trace."""

    def __init__(self, pids: Callable[[], Iterable[int]], every: float = 0.25) -> None:
        self._pids = pids
        self._every = every
        self.peak_bytes = 0  # of the sum over the processes
        self.peak_single_bytes = 0  # of the largest one
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            sizes = []
            for pid in self._pids():
                try:
                    sizes.append(psutil.Process(pid).memory_info().rss)
                except psutil.Error:
                    continue
            self.peak_bytes = max(self.peak_bytes, sum(sizes))
            self.peak_single_bytes = max(self.peak_single_bytes, *sizes, 0)

    @property
    def peak_mib(self) -> float:
        return self.peak_bytes / 2**20

    @property
    def peak_single_mib(self) -> float:
        return self.peak_single_bytes / 2**20


def child_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE", "AWS_SESSION_TOKEN")}
    env.update(overrides)
    return env


class CpuMeter:
    """CPU seconds used by groups of processes between enter and exit (psutil cpu_times)."""

    def __init__(self, groups: dict[str, Callable[[], Iterable[int]]]) -> None:
        self._groups = groups
        self.seconds: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        used = {}
        for name, pids in self._groups.items():
            total = 0.0
            for pid in pids():
                try:
                    times = psutil.Process(pid).cpu_times()
                except psutil.Error:
                    continue
                total += times.user + times.system
            used[name] = total
        return used

    def __enter__(self) -> CpuMeter:
        self._start = self._now()
        return self

    def __exit__(self, *exc) -> None:
        end = self._now()
        self.seconds = {name: end[name] - self._start.get(name, 0.0) for name in end}
