"""`make demo`: start the local stack, send bus.jpg as a Telegram user would, print the answer.

Exits 0 after printing the caption and saving the annotated image, or non-zero with a clear
reason within a bounded time; the stack is always shut down before it returns.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import requests

from local.config import ROOT, LocalConfig
from local.processes import stop_group
from local.samples import sample_image
from local.telegram_emulator.client import EmulatorClient
from yolo5.weights import Source, WeightsError

READY_TIMEOUT = 600  # a first run loads torch and warms the model
ANSWER_TIMEOUT = 180
CHAT_ID = 1001
OUT_DIR = ROOT / "artifacts" / "demo"


class DemoError(RuntimeError):
    pass


def check_weights() -> None:
    """Find the checkpoint as the worker will, before anything starts (a first run downloads
    it into the cache), so a missing one is one clear line instead of a stack that never
    becomes ready."""
    try:
        Source.from_env().resolve()
    except WeightsError as err:
        raise DemoError(
            f"no usable YOLOv5 weights: {err}\n"
            "   offline? pass a checkpoint: make demo YOLO_WEIGHTS=/path/to/yolov5n.pt"
        ) from err


def wait_until_ready(cfg: LocalConfig, stack: subprocess.Popen, log_path: Path) -> None:
    started = time.monotonic()
    next_note = 15.0
    while not cfg.ready_file.exists():
        if stack.poll() is not None:
            raise DemoError(f"the stack stopped while starting:\n{explain(log_path)}")
        waited = time.monotonic() - started
        if waited > READY_TIMEOUT:
            raise DemoError(
                f"the stack was not ready after {READY_TIMEOUT} s:\n{explain(log_path)}"
            )
        if waited > next_note:
            print(f"   ... still starting ({waited:.0f} s)", flush=True)
            next_note += 15
        time.sleep(0.5)


def explain(log_path: Path) -> str:
    lines = log_path.read_text(errors="replace").splitlines()
    hints = [line for line in lines if "WeightsError" in line or "weights" in line.lower()]
    if hints:
        return "no usable weights: set YOLO_WEIGHTS or allow the download\n  " + hints[-1]
    return "\n".join("  " + line for line in lines[-25:])


def send_and_wait(cfg: LocalConfig, image: Path) -> dict:
    emulator = EmulatorClient(cfg.emulator_url)
    answer = emulator.send_photo(CHAT_ID, image.read_bytes())
    print(
        f">> sent {image.name} as update {answer['update_id']}: webhook answered "
        f"{answer['webhook_status']}"
    )
    deadline = time.monotonic() + ANSWER_TIMEOUT
    while time.monotonic() < deadline:
        for message in emulator.messages(CHAT_ID):
            if message["method"] == "sendPhoto" or "sorry" in message.get("text", "").lower():
                return message
        time.sleep(0.5)
    raise DemoError(f"no answer from the bot within {ANSWER_TIMEOUT} s")


def main() -> int:
    cfg = LocalConfig.from_env()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    log_path = OUT_DIR / "stack.log"
    try:
        check_weights()
        image = sample_image("bus.jpg")
    except (DemoError, FileNotFoundError) as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    # A ready file left by a stack that was killed would make us talk to nothing.
    cfg.ready_file.unlink(missing_ok=True)
    print(f">> starting the local stack (logs: {log_path})", flush=True)
    with log_path.open("w") as log_file:
        stack = subprocess.Popen(
            [sys.executable, "-m", "local.up"],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
    try:
        wait_until_ready(cfg, stack, log_path)
        print(f">> stack ready; chat page at {cfg.emulator_url}/", flush=True)
        reply = send_and_wait(cfg, image)
        if reply["method"] != "sendPhoto":
            raise DemoError(f"the bot answered with an error: {reply.get('text')}")
        out = OUT_DIR / "bus-annotated.jpg"
        out.write_bytes(EmulatorClient(cfg.emulator_url).sent_file(reply))
        print("\n>> the bot replied:\n" + reply["caption"] + f"\n\n>> annotated image: {out}")
        return 0
    except (DemoError, requests.RequestException, KeyError, ValueError) as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    finally:
        print(">> stopping the stack", flush=True)
        stop_group(stack)


if __name__ == "__main__":
    sys.exit(main())
