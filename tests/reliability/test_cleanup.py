"""No orphans: a process started through local.lifeline dies with the test run, even
when the run itself is SIGKILLed and no teardown happens (what left stacks behind before)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import psutil

from local.config import ROOT

PARENT = textwrap.dedent(
    """
    import subprocess, sys, time
    from local import lifeline
    child = subprocess.Popen(lifeline.wrap([sys.executable, "-c", "import time; time.sleep(600)"]))
    print(child.pid, flush=True)
    time.sleep(600)
    """
)


def test_a_lifeline_child_dies_when_its_parent_is_sigkilled():
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        child = psutil.Process(int(parent.stdout.readline()))
        # The wrapper execs the command: same pid, the sleeper's command line.
        deadline = time.monotonic() + 60
        while "time.sleep(600)" not in " ".join(child.cmdline()):
            assert time.monotonic() < deadline, child.cmdline()
            time.sleep(0.1)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=30)
        _, alive = psutil.wait_procs([child], timeout=30)  # reparented: no exit code for us
        assert alive == [], "the child outlived its SIGKILLed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
