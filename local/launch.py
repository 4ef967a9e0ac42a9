"""Start a service of the local stack once bootstrap has written the stack outputs.

`python -m local.launch polybot|yolo5`: waits for the outputs file, adds it to the
environment and replaces itself with the service, so honcho signals the service directly.
"""

from __future__ import annotations

import os
import sys
import time

from local.config import ROOT, LocalConfig

WAIT_SECONDS = 180


def commands(cfg: LocalConfig) -> dict[str, list[str]]:
    return {
        "polybot": [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(ROOT / "polybot" / "gunicorn.conf.py"),
            # Loopback only: locally nothing but the emulator and the worker call polybot.
            "-b",
            f"127.0.0.1:{cfg.polybot_port}",
            "polybot.app:create_app()",
        ],
        "yolo5": [sys.executable, "-m", "yolo5"],
    }


def read_env_file(path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs}


def main(argv: list[str]) -> int:
    cfg = LocalConfig.from_env()
    known = commands(cfg)
    if len(argv) != 1 or argv[0] not in known:
        print(f"usage: python -m local.launch {{{'|'.join(known)}}}", file=sys.stderr)
        return 2
    deadline = time.monotonic() + WAIT_SECONDS
    while not cfg.outputs_file.exists():
        if time.monotonic() > deadline:
            print(f"{argv[0]}: no stack outputs after {WAIT_SECONDS} s", file=sys.stderr)
            return 1
        time.sleep(0.2)
    os.environ.update(read_env_file(cfg.outputs_file))
    command = known[argv[0]]
    os.chdir(ROOT)
    os.execv(command[0], command)  # noqa: S606 - fixed argv built above


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
