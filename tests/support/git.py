"""What only a git checkout can tell: a file's mode in the index."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def git_mode(path: Path) -> str | None:
    """The file's mode in git's index (e.g. "100755"), None if git does not track it.

    CodePipeline's CODE_ZIP has no .git and may drop mode bits, so outside a git checkout
    the calling test is skipped: what ships (the bundles) gets its modes checked anyway.
    """
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (CodePipeline's CODE_ZIP has no .git)")
    out = subprocess.run(
        ["git", "ls-files", "-s", "--", str(path.relative_to(ROOT))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()[0] if out else None
