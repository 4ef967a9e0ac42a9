"""A recording stand-in for the `aws` command, for running the real deploy scripts.

Only for what the real AWS CLI cannot run against moto (tests/cloudformation/scripts.py runs
the real one); each user says why it needs the stand-in.

Each test module writes the stand-in's answers, the body of a Python script that sees
`args` (the command line), `arg(name)` (an option's value), `command` (the first two words)
and `state` (the test's directory); every call is appended as a JSON list to `calls.jsonl`
there.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

# What every stand-in does before it answers: record the call.
PREAMBLE = """#!{python}
import json, os, shutil, sys
from pathlib import Path
args = sys.argv[1:]
state = Path(os.environ["FAKE_AWS_DIR"])
with open(state / "calls.jsonl", "a") as log:
    log.write(json.dumps(args) + "\\n")
def arg(name):
    return args[args.index(name) + 1] if name in args else ""
command = " ".join(args[:2])
"""


def install(answers: str, state: Path, monkeypatch, **fields: str) -> Path:
    """Put the stand-in first on PATH; returns the state directory it records into."""
    bin_dir = state / "bin"
    bin_dir.mkdir()
    aws = bin_dir / "aws"
    aws.write_text((PREAMBLE + answers).format(python=sys.executable, **fields))
    aws.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_AWS_DIR", str(state))
    return state


def calls(state: Path) -> list[list[str]]:
    return [json.loads(line) for line in (state / "calls.jsonl").read_text().splitlines()]
