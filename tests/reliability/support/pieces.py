"""The local stack's processes started one by one, so a test can kill, stop and restart them.

honcho (the Procfile runner behind `make up`) stops the whole stack as soon as one process
exits, which is right for a developer but hides exactly what the fault tests need to see:
a worker killed mid-job while everything else keeps running, polybot down and back. So here
each Procfile entry runs as its own subprocess with the same commands and environment
local/up.py prepares (moto_server, the emulator, local.bootstrap, local.launch polybot|yolo5);
only the supervision differs. Each process logs to its own file under the test's tmp dir.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from local.config import ROOT, LocalConfig
from local.up import stack_environment
from tests.reliability.support import aws
from tests.support import lifeline
from tests.support.images import real_weights
from tests.support.servers import free_port

READY_TIMEOUT = 240
STOP_TIMEOUT = 30
_serial = itertools.count(1)
_started: dict[int, subprocess.Popen] = {}  # every process group started here, for atexit


@atexit.register
def _kill_leftovers() -> None:
    """Fallback when a fixture's teardown never ran (lifeline covers a SIGKILLed run)."""
    for pid, process in list(_started.items()):
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


@dataclass
class Service:
    name: str
    process: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Pieces:
    cfg: LocalConfig
    env: dict[str, str]
    tmp: Path
    service_env: dict[str, str] = field(default_factory=dict)  # polybot's and workers' extras
    services: dict[str, Service] = field(default_factory=dict)

    # -- processes -----------------------------------------------------------------------
    def start(self, name: str, argv: list[str], **env: str) -> Service:
        log_path = self.tmp / f"{name}.log"
        with log_path.open("a") as log_file:
            process = subprocess.Popen(
                lifeline.wrap(argv),
                cwd=ROOT,
                env={**self.env, **env},
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _started[process.pid] = process
        service = Service(name, process, log_path)
        self.services[name] = service
        return service

    def start_polybot(self) -> Service:
        argv = [sys.executable, "-m", "local.launch", "polybot"]
        return self.start("polybot", argv, **self.service_env)

    def start_worker(self) -> Service:
        name = f"yolo5-{next(_serial)}"
        argv = [sys.executable, "-m", "local.launch", "yolo5"]
        return self.start(name, argv, HEALTH_FILE=str(self.health_file(name)), **self.service_env)

    def health_file(self, name: str) -> Path:
        return self.tmp / f"{name}.health"

    def wait_workers_ready(self, timeout: float = 180) -> list[Service]:
        """Until every live worker has loaded the model (it touches its health file then)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            workers = self.workers()
            if workers and all(self.health_file(w.name).exists() for w in workers):
                return workers
            time.sleep(0.3)
        raise AssertionError(f"workers not ready\n{self.logs()[-4000:]}")

    def workers(self) -> list[Service]:
        return [s for n, s in self.services.items() if n.startswith("yolo5-") and s.alive()]

    def stop(self, service: Service, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT):
        """Signal one process; returns its exit code (None if it outlived the timeout)."""
        if service.alive():
            service.process.send_signal(sig)
        try:
            return service.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def wait_http(self, url: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(url, timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{url} not healthy within {timeout} s\n{self.logs()[-3000:]}")

    def logs(self) -> str:
        return "".join(f"\n==== {n}\n{s.log()}" for n, s in self.services.items())

    def outputs(self) -> dict[str, str]:
        return aws.outputs(self.cfg)

    # -- clients -------------------------------------------------------------------------
    def aws(self, service: str):
        return aws.client(self.cfg, service)

    def table(self):
        return aws.table(self.cfg, self.outputs()["PREDICTIONS_TABLE"])

    # -- the emulator's control API --------------------------------------------------------
    def send_photo(self, chat_id: int, data: bytes) -> dict:
        url = f"{self.cfg.emulator_url}/emulator/chats/{chat_id}/photo"
        response = requests.post(url, data=data, timeout=90)
        response.raise_for_status()
        return response.json()

    def messages(self, chat_id: int) -> list[dict]:
        url = f"{self.cfg.emulator_url}/emulator/chats/{chat_id}/messages"
        return requests.get(url, timeout=10).json()

    def fault(self, method: str, status: int, count: int = 1, retry_after: int | None = None):
        body = {"method": method, "status": status, "count": count}
        if retry_after is not None:
            body["retry_after"] = retry_after
        url = f"{self.cfg.emulator_url}/emulator/faults"
        requests.post(url, json=body, timeout=10).raise_for_status()

    def wait_for(self, chat_id: int, predicate, timeout: float = 180) -> list[dict]:
        deadline = time.monotonic() + timeout
        messages: list[dict] = []
        while time.monotonic() < deadline:
            messages = self.messages(chat_id)
            if predicate(messages):
                return messages
            time.sleep(0.3)
        raise AssertionError(f"chat {chat_id}: {messages}\n{self.logs()[-6000:]}")


def photos(messages: list[dict]) -> list[dict]:
    return [m for m in messages if m["method"] == "sendPhoto"]


@contextmanager
def local_pieces(
    tmp_path: Path, workers: int = 1, service_env: dict[str, str] | None = None, **overrides
) -> Iterator[Pieces]:
    """moto + emulator + bootstrap + polybot + `workers` yolo5 workers, each its own process.

    service_env is added to polybot's and the workers' environment only (e.g. an
    AWS_ENDPOINT_URL pointing at a FaultyProxy); bootstrap always talks to moto directly.
    """
    base = {
        **os.environ,
        "MOTO_PORT": str(free_port()),
        "EMULATOR_PORT": str(free_port()),
        "POLYBOT_PORT": str(free_port()),
        "LOCAL_STATE_DIR": str(tmp_path / "state"),
        "LOCAL_PREFIX": f"polybot-r{os.getpid() % 100000}-{next(_serial)}",
        "YOLO_WEIGHTS": str(real_weights()),
        **overrides,
    }
    cfg = LocalConfig.from_env(base)
    pieces = Pieces(
        cfg=cfg, env=stack_environment(cfg, base), tmp=tmp_path, service_env=service_env or {}
    )
    try:
        pieces.start(
            "moto",
            [
                sys.executable,
                "-m",
                "local.moto_server",
                "-H",
                "127.0.0.1",
                "-p",
                str(cfg.moto_port),
            ],
        )
        pieces.start("emulator", [sys.executable, "-m", "local.telegram_emulator"])
        pieces.start("bootstrap", [sys.executable, "-m", "local.bootstrap"])
        pieces.start_polybot()
        for _ in range(workers):
            pieces.start_worker()
        deadline = time.monotonic() + READY_TIMEOUT
        while not cfg.ready_file.exists():
            dead = [n for n, s in pieces.services.items() if not s.alive()]
            if dead or time.monotonic() > deadline:
                raise AssertionError(f"not ready (dead: {dead}):\n{pieces.logs()[-6000:]}")
            time.sleep(0.3)
        yield pieces
    finally:
        for service in reversed(list(pieces.services.values())):
            if service.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(service.pid, signal.SIGTERM)
        for service in pieces.services.values():
            try:
                service.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(service.pid, signal.SIGKILL)
                service.process.wait()
            _started.pop(service.pid, None)
