"""The whole local stack (local/up.py → honcho → Procfile) as real processes, for end-to-end tests.

Each stack gets free ports and its own state directory, so tests never collide with a
developer's `make up` or with each other.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests

from local.config import ROOT, LocalConfig
from local.processes import stop_group
from tests.support import lifeline
from tests.support.images import real_weights
from tests.support.servers import free_port

READY_TIMEOUT = 300


@dataclass
class RunningStack:
    cfg: LocalConfig
    process: subprocess.Popen
    log_path: Path
    pids: set[int] = field(default_factory=set)

    @property
    def emulator(self) -> str:
        return self.cfg.emulator_url

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def send_photo(self, chat_id: int, data: bytes, **params) -> dict:
        url = f"{self.emulator}/emulator/chats/{chat_id}/photo"
        response = requests.post(url, data=data, params=params, timeout=60)
        response.raise_for_status()
        return response.json()

    def send_document(self, chat_id: int, data: bytes, filename: str, **params) -> dict:
        url = f"{self.emulator}/emulator/chats/{chat_id}/document"
        response = requests.post(
            url, data=data, params={"filename": filename, **params}, timeout=60
        )
        response.raise_for_status()
        return response.json()

    def send_text(self, chat_id: int, text: str) -> dict:
        url = f"{self.emulator}/emulator/chats/{chat_id}/text"
        response = requests.post(url, json={"text": text}, timeout=60)
        response.raise_for_status()
        return response.json()

    def messages(self, chat_id: int) -> list[dict]:
        url = f"{self.emulator}/emulator/chats/{chat_id}/messages"
        return requests.get(url, timeout=10).json()

    def wait_for(self, chat_id: int, predicate, timeout: float = 120) -> list[dict]:
        """Poll the chat until predicate(messages) is true; returns the messages."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            messages = self.messages(chat_id)
            if predicate(messages):
                return messages
            if self.process.poll() is not None:
                raise AssertionError(f"the stack died:\n{self.log()[-4000:]}")
            time.sleep(0.3)
        raise AssertionError(f"chat {chat_id} timed out; messages={messages}\n{self.log()[-4000:]}")

    def wait_for_photo(self, chat_id: int, timeout: float = 120) -> dict:
        messages = self.wait_for(
            chat_id, lambda ms: any(m["method"] == "sendPhoto" for m in ms), timeout
        )
        return next(m for m in messages if m["method"] == "sendPhoto")

    def snapshot_pids(self) -> None:
        """Remember every process of the stack (honcho starts them in their own sessions)."""
        try:
            root = psutil.Process(self.process.pid)
            self.pids = {root.pid, *(p.pid for p in root.children(recursive=True))}
        except psutil.NoSuchProcess:
            pass

    def alive_pids(self) -> list[int]:
        alive = []
        for pid in self.pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                continue
        return alive


def stack_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        MOTO_PORT=str(free_port()),
        EMULATOR_PORT=str(free_port()),
        POLYBOT_PORT=str(free_port()),
        LOCAL_STATE_DIR=str(tmp_path / "state"),
        YOLO_WEIGHTS=str(real_weights()),
        LOCAL_PREFIX=f"polybot-t{os.getpid()}",
    )
    env.update(overrides)
    return env


@contextmanager
def local_stack(tmp_path: Path, **overrides: str) -> Iterator[RunningStack]:
    env = stack_env(tmp_path, **overrides)
    cfg = LocalConfig.from_env(env)
    log_path = tmp_path / "stack.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            lifeline.wrap([sys.executable, "-m", "local.up"]),
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack = RunningStack(cfg=cfg, process=process, log_path=log_path)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not cfg.ready_file.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"stack did not become ready:\n{stack.log()[-4000:]}")
            time.sleep(0.3)
        stack.snapshot_pids()
        yield stack
    finally:
        stack.snapshot_pids()
        stop_group(process)
