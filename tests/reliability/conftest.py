"""Shared by the reliability suites: where observed outcomes are recorded for docs/reliability.md.

Each case appends one JSON line (case, observed) to $RELIABILITY_OBSERVED (default:
OBSERVED, below), so the table in docs/reliability.md is filled from a real run rather than
from memory.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from local.config import ROOT

OBSERVED = ROOT / "artifacts" / "reliability.jsonl"


@pytest.fixture(scope="session")
def observe():
    path = os.environ.get("RELIABILITY_OBSERVED", str(OBSERVED))

    def record(case: str, **observed) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        line = {"case": case, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **observed}
        with open(path, "a") as out:
            out.write(json.dumps(line, default=str) + "\n")

    return record


@pytest.fixture(scope="module")
def shared_stack(tmp_path_factory):
    """One honcho-run local stack (make up's Procfile) per module that wants it (bad input,
    security). Module scope, not package: an idle stack must not hold memory and a worker
    through the fault and load modules, which start their own."""
    from local.harness import local_stack
    from tests.support.images import real_weights

    tmp = tmp_path_factory.mktemp("shared-stack")
    with local_stack(tmp, weights=real_weights()) as running:
        yield running
    assert running.process.returncode == 0, running.log()[-3000:]
    assert running.alive_pids() == [], running.log()[-3000:]
