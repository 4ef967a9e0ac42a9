"""The local stack started from Python on free ports: the one harness of the tests and the bench.

The same Procfile processes with the same environment as `make up` (local/up.py's
stack_environment), run one of two ways:

- local_stack(): `python -m local.up` itself, so honcho runs the Procfile and the whole stack
  stops when any process exits. The end-to-end tests and the benchmarks.
- local_pieces(): every Procfile process as its own subprocess, so a test can kill, stop and
  restart one while the others keep running (which honcho would hide). The fault tests.

Each stack gets free ports, its own state directory and resource prefix, so it never meets a
developer's `make up` or another stack. Every process runs in its own process group through
local/lifeline.py and logs to its own file: teardown stops them, they die with the caller even
when it is SIGKILLed, and an atexit hook kills what a teardown that never ran left behind.
Test and benchmark tooling only (it needs psutil from requirements-dev.txt).
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

import boto3
import psutil
import requests

from common.jsonlog import read_records
from local import lifeline, procfile
from local.config import ROOT, LocalConfig
from local.launch import read_env_file
from local.servers import free_port
from local.telegram_emulator.client import EmulatorClient
from local.up import stack_environment

READY_TIMEOUT = 300
STOP_TIMEOUT = 60
_serial = itertools.count(1)
_started: dict[int, subprocess.Popen] = {}  # every process group started here, for atexit


@atexit.register
def _kill_leftovers() -> None:
    """Fallback when a teardown never ran (lifeline covers a SIGKILLed caller)."""
    for pid, process in list(_started.items()):
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


class StackError(RuntimeError):
    """The stack did not start, died, or did not answer in time; carries the logs' tail."""


# -- boto3 against a stack's moto server, whatever the caller's environment --------------------
def session(cfg: LocalConfig) -> boto3.Session:
    """moto's placeholder credentials (as local/up.py hands the services), never real ones."""
    return boto3.Session(
        region_name=cfg.region,
        aws_access_key_id="local-moto",
        aws_secret_access_key="local-moto",  # noqa: S106 - moto accepts anything
    )


def client(cfg: LocalConfig, service: str):
    return session(cfg).client(service, endpoint_url=cfg.moto_url)


def table(cfg: LocalConfig, name: str):
    return session(cfg).resource("dynamodb", endpoint_url=cfg.moto_url).Table(name)


def outputs(cfg: LocalConfig) -> dict[str, str]:
    """What bootstrap handed the services (IMAGES_BUCKET, JOBS_QUEUE_URL, PREDICTIONS_TABLE...)."""
    return read_env_file(cfg.outputs_file)


def process_tree(pid: int) -> list[int]:
    """pid and every descendant of it (empty if it is gone)."""
    try:
        root = psutil.Process(pid)
        return [root.pid, *(p.pid for p in root.children(recursive=True))]
    except psutil.Error:
        return []


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
class LocalStack:
    cfg: LocalConfig
    env: dict[str, str]  # every process's environment (local/up.py's)
    tmp: Path  # logs and health files
    service_env: dict[str, str] = field(default_factory=dict)  # polybot's and workers' extras
    services: dict[str, Service] = field(default_factory=dict)
    pids: set[int] = field(default_factory=set)  # every process seen (snapshot_pids)

    # -- processes -----------------------------------------------------------------------
    def start(self, name: str, argv: list[str], **env: str) -> Service:
        log_path = self.tmp / f"{name}.log"
        with log_path.open("a") as log_file:
            process = subprocess.Popen(  # noqa: S603 - the harness's own fixed argv
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

    @property
    def process(self) -> subprocess.Popen:
        """local.up's process (local_stack): honcho and the Procfile run under it."""
        return self.services["up"].process

    def start_polybot(self) -> Service:
        argv = procfile.argv("polybot", self.env)
        return self.start("polybot", argv, **self.service_env)

    def start_worker(self) -> Service:
        name = f"yolo5-{next(_serial)}"
        argv = procfile.argv("yolo5", self.env)
        return self.start(name, argv, HEALTH_FILE=str(self.health_file(name)), **self.service_env)

    def health_file(self, name: str) -> Path:
        return self.tmp / f"{name}.health"

    def workers(self) -> list[Service]:
        """local_pieces' live workers."""
        return [s for n, s in self.services.items() if n.startswith("yolo5-") and s.alive()]

    def wait_workers_ready(self, timeout: float = 180) -> None:
        """Until every worker has loaded the model: each live worker's health file
        (local_pieces), or a worker.ready log event per worker in local.up's log (local_stack,
        where the workers share one HEALTH_FILE)."""
        deadline = time.monotonic() + timeout
        while not self._workers_ready():
            self._check_alive()
            if time.monotonic() > deadline:
                raise StackError(f"workers not ready within {timeout:.0f} s\n{self.log()[-4000:]}")
            time.sleep(0.3)

    def _workers_ready(self) -> bool:
        if "up" in self.services:
            log = self.services["up"].log().splitlines()
            ready = sum(1 for _ in read_records(log, "worker.ready"))
            return ready >= int(self.env["WORKERS"])
        workers = self.workers()
        return bool(workers) and all(self.health_file(w.name).exists() for w in workers)

    def stop(self, service: Service, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT):
        """Signal one process; returns its exit code (None if it outlived the timeout)."""
        if service.alive():
            service.process.send_signal(sig)
        try:
            return service.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def shut_down(self) -> None:
        """SIGTERM every process group (local.up then stops honcho and the Procfile), newest
        first; SIGKILL what outlives STOP_TIMEOUT."""
        for service in reversed(list(self.services.values())):
            if service.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(service.pid, signal.SIGTERM)
        for service in self.services.values():
            try:
                service.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(service.pid, signal.SIGKILL)
                service.process.wait()
            _started.pop(service.pid, None)

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Until bootstrap marks the stack ready (webhook registered: polybot serves)."""
        deadline = time.monotonic() + timeout
        while not self.cfg.ready_file.exists():
            dead = [n for n, s in self.services.items() if not s.alive()]
            if dead or time.monotonic() > deadline:
                raise StackError(f"not ready (dead: {dead}):\n{self.log()[-6000:]}")
            time.sleep(0.3)

    def _check_alive(self) -> None:
        up = self.services.get("up")
        if up is not None and not up.alive():
            raise StackError(f"the stack died:\n{self.log()[-4000:]}")

    def snapshot_pids(self) -> None:
        """Remember every process of the stack (honcho starts them in their own sessions)."""
        self.pids |= {pid for s in self.services.values() for pid in process_tree(s.pid)}

    def alive_pids(self) -> list[int]:
        alive = []
        for pid in self.pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                continue
        return alive

    def pids_of(self, marker: str) -> list[int]:
        """Running processes whose command line contains `marker` ('gunicorn', '-m yolo5')."""
        found = []
        for service in self.services.values():
            for pid in process_tree(service.pid):
                try:
                    if marker in " ".join(psutil.Process(pid).cmdline()):
                        found.append(pid)
                except psutil.Error:
                    continue
        return found

    def log(self) -> str:
        """Every process's output so far, each under its name."""
        return "".join(f"\n==== {n}\n{s.log()}" for n, s in self.services.items())

    def wait_http(self, url: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(url, timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise StackError(f"{url} not healthy within {timeout} s\n{self.log()[-3000:]}")

    # -- AWS (moto) ----------------------------------------------------------------------
    def outputs(self) -> dict[str, str]:
        return outputs(self.cfg)

    def client(self, service: str):
        return client(self.cfg, service)

    def table(self):
        return table(self.cfg, self.outputs()["PREDICTIONS_TABLE"])

    # -- the Telegram emulator's control API -------------------------------------------------
    @property
    def emulator(self) -> str:
        return self.cfg.emulator_url

    def emulator_client(self, http: requests.Session | None = None) -> EmulatorClient:
        """The emulator's control API, over `http` when the caller reuses a session."""
        return EmulatorClient(self.emulator, session=http)

    def send_photo(self, chat_id: int, data: bytes, http=None, **params) -> dict:
        """A user sends a photo; the emulator's report (webhook_status, message_id...)."""
        return self.emulator_client(http).send_photo(chat_id, data, **params)

    def send_document(self, chat_id: int, data: bytes, filename: str, **params) -> dict:
        return self.emulator_client().send_document(chat_id, data, filename, **params)

    def send_text(self, chat_id: int, text: str) -> dict:
        return self.emulator_client().send_text(chat_id, text)

    def messages(self, chat_id: int, http=None) -> list[dict]:
        """What the bot sent to the chat so far."""
        return self.emulator_client(http).messages(chat_id)

    def fault(self, method: str, status: int, count: int = 1, retry_after: int | None = None):
        """Arm the emulator to fail the next `count` calls of a Bot API method."""
        self.emulator_client().fault(method, status, count, retry_after)

    def wait_for(self, chat_id: int, predicate, timeout: float = 180) -> list[dict]:
        """Poll the chat until predicate(messages) is true; returns the messages."""
        deadline = time.monotonic() + timeout
        messages: list[dict] = []
        while time.monotonic() < deadline:
            messages = self.messages(chat_id)
            if predicate(messages):
                return messages
            self._check_alive()
            time.sleep(0.3)
        raise StackError(f"chat {chat_id} timed out: {messages}\n{self.log()[-6000:]}")

    def wait_for_photo(self, chat_id: int, timeout: float = 180) -> dict:
        return photos(self.wait_for(chat_id, photos, timeout))[0]


def photos(messages: list[dict]) -> list[dict]:
    return [m for m in messages if m["method"] == "sendPhoto"]


def _prepare(
    tmp: Path, label: str, weights: Path | None, service_env: dict[str, str] | None, overrides
) -> LocalStack:
    tmp.mkdir(parents=True, exist_ok=True)
    base = {
        **os.environ,
        "MOTO_PORT": str(free_port()),
        "EMULATOR_PORT": str(free_port()),
        "POLYBOT_PORT": str(free_port()),
        "LOCAL_STATE_DIR": str(tmp / "state"),
        "LOCAL_PREFIX": f"polybot-{label}{os.getpid() % 100000}-{next(_serial)}",
        **({"YOLO_WEIGHTS": str(weights)} if weights else {}),
        **overrides,
    }
    cfg = LocalConfig.from_env(base)
    return LocalStack(cfg, stack_environment(cfg, base), tmp, service_env or {})


@contextmanager
def _running(stack: LocalStack) -> Iterator[LocalStack]:
    try:
        stack.wait_ready()
        stack.snapshot_pids()
        yield stack
    finally:
        stack.snapshot_pids()
        stack.shut_down()


@contextmanager
def local_stack(
    tmp: Path, workers: int = 1, weights: Path | None = None, **overrides: str
) -> Iterator[LocalStack]:
    """`make up` (python -m local.up → honcho → Procfile) with `workers` yolo5 workers (0:
    polybot alone), until the stack is ready. weights: YOLO_WEIGHTS for the workers; overrides:
    more environment (WORKER_BATCH_SIZE=...). stack.process is local.up's process."""
    stack = _prepare(tmp, "s", weights, None, {"WORKERS": str(workers), **overrides})
    stack.start("up", [sys.executable, "-m", "local.up"])
    with _running(stack):
        yield stack


@contextmanager
def local_pieces(
    tmp: Path,
    workers: int = 1,
    weights: Path | None = None,
    service_env: dict[str, str] | None = None,
    **overrides: str,
) -> Iterator[LocalStack]:
    """moto + emulator + bootstrap + polybot + `workers` yolo5 workers, each its own process
    (stack.services by name: moto, emulator, bootstrap, polybot, yolo5-<n>).

    service_env is added to polybot's and the workers' environment only (e.g. an
    AWS_ENDPOINT_URL pointing at a proxy in front of moto); bootstrap always talks to moto.
    """
    stack = _prepare(tmp, "p", weights, service_env, overrides)
    try:
        for name in procfile.entries():  # the Procfile's processes, in its order
            if name == "polybot":
                stack.start_polybot()
            elif name == "yolo5":
                for _ in range(workers):
                    stack.start_worker()
            else:
                stack.start(name, procfile.argv(name, stack.env))
    except BaseException:
        stack.shut_down()
        raise
    with _running(stack):
        yield stack
