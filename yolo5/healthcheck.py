"""`python -m yolo5.healthcheck`: exit 0 if the worker loop touched its health file lately.

Used by the container HEALTHCHECK. It imports nothing heavy (no torch) so it runs in well under
a second. The loop touches the file at least every WORKER_WAIT_SECONDS plus one job, so a file
older than MAX_AGE_SECONDS means the loop is stuck or gone.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from yolo5.settings import DEFAULT_HEALTH_FILE

MAX_AGE_SECONDS = 90.0


def is_fresh(path: Path, max_age: float = MAX_AGE_SECONDS, now: float | None = None) -> bool:
    try:
        modified = path.stat().st_mtime
    except OSError:
        return False
    return ((now if now is not None else time.time()) - modified) < max_age


def main() -> int:
    path = Path(os.environ.get("HEALTH_FILE") or DEFAULT_HEALTH_FILE)
    if is_fresh(path):
        return 0
    print(f"unhealthy: {path} missing or older than {MAX_AGE_SECONDS:.0f}s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
