"""The whole local stack (local/up.py's environment → honcho → local/Procfile) on free ports.

Same processes and settings as `make up` (polybot under gunicorn with its production
gunicorn.conf.py), with a chosen number of yolo5 workers — 0 for the ingest figure.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
import psutil
import requests

from bench.procs import process_tree
from local.config import ROOT, LocalConfig
from local.launch import read_env_file
from local.processes import honcho_command, stop_group
from local.servers import free_port
from local.up import stack_environment

READY_TIMEOUT = 300


@dataclass
class Stack:
    cfg: LocalConfig
    process: subprocess.Popen
    outputs: dict[str, str]
    log_path: Path

    def session(self):
        return boto3.Session(
            region_name=self.cfg.region,
            aws_access_key_id="local-moto",
            aws_secret_access_key="local-moto",  # noqa: S106 - moto accepts anything
        )

    def client(self, name: str):
        return self.session().client(name, endpoint_url=self.cfg.moto_url)

    def table(self):
        resource = self.session().resource("dynamodb", endpoint_url=self.cfg.moto_url)
        return resource.Table(self.outputs["PREDICTIONS_TABLE"])

    def send_photo(self, http: requests.Session, chat_id: int, data: bytes) -> int:
        """Deliver a photo update through the emulator; the webhook's HTTP status."""
        url = f"{self.cfg.emulator_url}/emulator/chats/{chat_id}/photo"
        response = http.post(url, data=data, timeout=60)
        response.raise_for_status()
        return int(response.json().get("webhook_status") or 0)

    def messages(self, http: requests.Session, chat_id: int) -> list[dict]:
        url = f"{self.cfg.emulator_url}/emulator/chats/{chat_id}/messages"
        return http.get(url, timeout=10).json()

    def pids(self, marker: str) -> list[int]:
        """Stack processes whose command line contains `marker` ('gunicorn', 'yolo5')."""
        found = []
        for pid in process_tree(self.process.pid):
            try:
                if marker in " ".join(psutil.Process(pid).cmdline()):
                    found.append(pid)
            except psutil.Error:
                continue
        return found

    def stop(self) -> None:
        stop_group(self.process)


def start(workers: int, **overrides: str) -> Stack:
    state = Path(tempfile.mkdtemp(prefix="bench-stack-"))
    base = dict(os.environ)
    base.update(
        MOTO_PORT=str(free_port()),
        EMULATOR_PORT=str(free_port()),
        POLYBOT_PORT=str(free_port()),
        LOCAL_STATE_DIR=str(state / "state"),
        LOCAL_PREFIX=f"bench{os.getpid()}",
    )
    cfg = LocalConfig.from_env(base)
    cfg.state_dir.mkdir(parents=True)
    env = stack_environment(cfg, base)
    env.update(overrides)
    log_path = state / "stack.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            honcho_command(workers),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack = Stack(cfg, process, {}, log_path)
    deadline = time.monotonic() + READY_TIMEOUT
    while not cfg.ready_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            stack.stop()
            raise RuntimeError(f"the local stack did not start; see {log_path}")
        time.sleep(0.3)
    stack.outputs = read_env_file(cfg.outputs_file)
    if workers:
        _wait_for_workers(stack, workers, deadline)
    return stack


def _wait_for_workers(stack: Stack, workers: int, deadline: float) -> None:
    """The ready file means polybot serves; workers are ready once their model is warm."""
    while stack.log_path.read_text(errors="replace").count("worker ready") < workers:
        if stack.process.poll() is not None or time.monotonic() > deadline:
            stack.stop()
            raise RuntimeError(f"the yolo5 worker(s) did not start; see {stack.log_path}")
        time.sleep(0.3)
