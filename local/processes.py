"""Starting and stopping the local stack's process tree (make up, make demo; the tests and the
benchmarks run make up itself through local/harness.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from local.config import PROCFILE, ROOT


def honcho_command(workers: int) -> list[str]:
    """The Procfile under honcho, with `workers` yolo5 processes."""
    return [
        sys.executable, "-m", "honcho", "-f", str(PROCFILE), "-d", str(ROOT),
        "start", "-c", f"yolo5={workers}",
    ]  # fmt: skip


def stop_group(process: subprocess.Popen, timeout: float = 60) -> None:
    """SIGTERM the process group (honcho then stops every service), SIGKILL if it hangs."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
