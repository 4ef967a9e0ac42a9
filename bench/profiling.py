"""py-spy flame graphs of benchmark processes (the SVGs linked from docs/benchmarks.md)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PY_SPY = Path(sys.executable).with_name("py-spy")  # installed by requirements-dev.txt
RATE_HZ = 250


@contextmanager
def flame_graph(pid: int, svg: Path, subprocesses: bool = False) -> Iterator[dict]:
    """Sample `pid` (and its children) with py-spy while the block runs; the graph is written
    to `svg` at the end. Yields a dict whose "file" is the SVG's name, or None when py-spy is
    missing or could not attach (the run goes on without a profile). Sampling pauses the
    process, so a profiled run is never one whose figures are reported."""
    found: dict = {"file": None}
    if not PY_SPY.exists():
        yield found
        return
    svg.parent.mkdir(parents=True, exist_ok=True)
    command = [str(PY_SPY), "record", "--pid", str(pid), "--rate", str(RATE_HZ), "--native"]
    command += ["--format", "flamegraph", "--output", str(svg)]
    if subprocesses:
        command.append("--subprocesses")
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # attached before the work starts
    try:
        yield found
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes the graph when interrupted
        _out, err = spy.communicate(timeout=120)
        if svg.exists():
            found["file"] = svg.name
        else:
            print(f"  py-spy wrote no profile of {pid}: {err.decode(errors='replace')[-300:]}")
