from __future__ import annotations

import os
import subprocess
import sys
import time

from yolo5.healthcheck import MAX_AGE_SECONDS, is_fresh


def test_fresh_stale_and_missing(tmp_path):
    stamp = tmp_path / "health"
    assert not is_fresh(stamp)
    stamp.touch()
    assert is_fresh(stamp)
    assert not is_fresh(stamp, now=time.time() + MAX_AGE_SECONDS + 1)


def test_module_exit_codes(tmp_path):
    stamp = tmp_path / "health"
    env = {**os.environ, "HEALTH_FILE": str(stamp)}
    command = [sys.executable, "-m", "yolo5.healthcheck"]
    assert subprocess.run(command, env=env, check=False).returncode == 1
    stamp.touch()
    assert subprocess.run(command, env=env, check=False).returncode == 0
    old = time.time() - MAX_AGE_SECONDS - 5
    os.utime(stamp, (old, old))
    assert subprocess.run(command, env=env, check=False).returncode == 1
