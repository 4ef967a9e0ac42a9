"""Run a command so that it dies with the process that started it, even when that is SIGKILLed.

`python -m local.lifeline <parent pid> <argv...>` asks the kernel (prctl PR_SET_PDEATHSIG) to
send it SIGTERM when its parent (the test run or benchmark that started it) dies, then execs
argv; the setting survives exec. A process started this way is stopped by its ordinary SIGTERM
path (gunicorn's master stops its workers, local.up stops honcho and honcho the Procfile), so
a killed or crashed run leaves no orphan stack behind. local/harness.py starts every process
this way; its teardown still stops them first, this is the fallback for when it never runs.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def wrap(argv: list[str]) -> list[str]:
    """argv prefixed so it dies with this (the calling) process."""
    return [sys.executable, "-m", "local.lifeline", str(os.getpid()), *argv]


def main(args: list[str]) -> int:
    parent, argv = int(args[0]), args[1:]
    prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)  # Linux only
    if prctl is None or prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        # Not fatal: teardown and the atexit fallback still stop the process.
        print(f"lifeline: no parent-death signal (errno {ctypes.get_errno()})", file=sys.stderr)
    if os.getppid() != parent:  # the parent died before prctl took effect
        return 1
    os.execvp(argv[0], argv)  # noqa: S606 - the caller's own fixed argv
    return 1  # unreachable: execvp replaces the process or raises


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
