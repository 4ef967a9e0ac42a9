"""Run a CodeBuild buildspec's phases here, so that what the pipeline runs has run before.

`python -m tools.buildspec buildspecs/test.yml` (from the source directory): the buildspec's
`env.variables` are exported unless the environment already sets them (a CodeBuild project's
variables take precedence over the buildspec's, as the CodeBuild guide's "Environment variables
in build environments" says), then every command of install, pre_build, build and post_build
runs in that order in one bash process, so a variable or `cd` carries over to later commands.
The first failing command fails its phase, and the run stops with its exit status.

What it does not emulate: runtime-versions (the running Python is used), `on-failure`,
`finally` blocks, `exported-variables`, `parameter-store`/`secrets-manager` variables,
artifacts, reports, the cache, and CodeBuild's own variables (CODEBUILD_*), which the caller
sets where a buildspec reads them. It also runs post_build only after a build that passed.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import yaml

PHASES = ("install", "pre_build", "build", "post_build")


def script(spec: dict, env: Mapping[str, str]) -> str:
    """The bash program that runs the buildspec: exports, then each command with its check."""
    lines = ["set -o pipefail"]
    for name, value in ((spec.get("env") or {}).get("variables") or {}).items():
        if name not in env:
            lines.append(f"export {name}={shlex.quote(str(value))}")
    for phase in PHASES:
        commands = ((spec.get("phases") or {}).get(phase) or {}).get("commands") or []
        for number, command in enumerate(commands, 1):
            where = f"{phase} command {number}"
            lines += [
                f"echo {shlex.quote(f'[buildspec] {where}: {command.splitlines()[0]}')}",
                command,
                "__status=$?",
                f'if [ "$__status" -ne 0 ]; then echo "[buildspec] {where} failed '
                f'(exit $__status)" >&2; exit "$__status"; fi',
            ]
    return "\n".join(lines) + "\n"


def run(buildspec: Path, cwd: Path, env: Mapping[str, str] = os.environ) -> int:
    spec = yaml.safe_load(buildspec.read_text())
    if str(spec.get("version")) != "0.2":
        raise SystemExit(f"{buildspec}: only buildspec version 0.2 is supported")
    program = script(spec, env)
    # The project's own buildspec, run by the bash on PATH as CodeBuild's shell would.
    command = ["bash", "-c", program]
    return subprocess.run(command, cwd=cwd, env=dict(env), check=False).returncode  # noqa: S603


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tools.buildspec BUILDSPEC  (run from the source directory)")
        return 2
    return run(Path(argv[0]).resolve(), Path.cwd())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
