"""Static checks beyond ruff, each over every file it applies to; exits non-zero on any finding.

Files are found by pattern, so a new template, script or Dockerfile is checked without
editing this list.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# checkov pins older boto3/packaging releases, so it has a venv of its own.
CHECKOV = str(ROOT / ".venv" / "checkov" / "bin" / "checkov")
SKIP_DIRS = {".venv", ".git", "artifacts", "node_modules", ".pytest_cache", ".ruff_cache"}


def files(*patterns: str) -> list[str]:
    found = set()
    for pattern in patterns:
        for path in ROOT.glob(pattern):
            if path.is_file() and not SKIP_DIRS.intersection(path.relative_to(ROOT).parts):
                found.add(str(path.relative_to(ROOT)))
    return sorted(found)


def templates() -> list[str]:
    return files("cloudformation/*.yaml", "cloudformation/*.yml")


def shell_scripts() -> list[str]:
    return files("**/*.sh", "appspecs/**/hooks/*", ".ci/run", "rehearsal/bin/*")


def checks() -> list[tuple[str, list[str], list[str]]]:
    """(name, command, targets): the command runs on its targets when there are any."""
    tpl = templates()
    yamls = files("buildspecs/*.yml", "buildspecs/*.yaml", "appspecs/**/appspec.yml")
    return [
        ("cfn-lint", [str(BIN / "cfn-lint")], tpl),
        (
            "checkov",
            # --skip-download: CI is offline; checkov's default fetches guidelines.
            [CHECKOV, "--quiet", "--compact", "--skip-download", "--framework", "cloudformation"],
            [arg for t in tpl for arg in ("-f", t)],
        ),
        ("shellcheck", [str(BIN / "shellcheck"), "-x"], shell_scripts()),
        ("hadolint", [str(BIN / "hadolint")], files("**/Dockerfile")),
        ("yamllint", [str(BIN / "yamllint"), "-s", "-c", ".yamllint.yml"], yamls),
        ("bandit", [str(BIN / "bandit"), "-q", "-ll", "-r"], ["polybot", "yolo5", "common"]),
    ]


def main(selected: list[str]) -> int:
    failed = []
    for name, cmd, targets in checks():
        if selected and name not in selected:
            continue
        if not targets:
            print(f"-- {name}: nothing to check")
            continue
        print(f"-- {name}", flush=True)
        if subprocess.run([*cmd, *targets], cwd=ROOT, check=False).returncode != 0:  # noqa: S603
            failed.append(name)
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    print("all static checks clean")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
