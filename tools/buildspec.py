"""Run a CodeBuild buildspec's phases here, so that what the pipeline runs has run before.

    python -m tools.buildspec [--exported-variables FILE] [--artifacts DIR] BUILDSPEC

run from the source directory (CodeBuild's CODEBUILD_SRC_DIR). Pages cited are from the AWS
CodeBuild User Guide.

What it emulates:

- `env.variables` are exported unless the environment already sets them (a project's or a
  start-build's variables take precedence over the buildspec's: "Build specification reference
  for CodeBuild", env/variables). CODEBUILD_BUILD_SUCCEEDING is set to 1, and to 0 from the
  first failing command on ("Environment variables in build environments").
- install, pre_build, build and post_build run in that order in one bash process, so a
  variable or `cd` carries over to later commands. A failing command fails its phase and skips
  the rest of that phase's `commands`; the phase's `finally` commands still run (a failing
  `finally` command skips the rest of that block, which the reference leaves unsaid).
- Phase failures follow "Build phase transitions": a failed install or pre_build ends the
  build (no later phase, no artifacts); a failed build still runs post_build, and artifacts are
  still collected after a failed build or post_build ("The UPLOAD_ARTIFACTS phase is always
  attempted, even if the BUILD phase fails"). A phase's `on-failure: ABORT` ends the build
  like a failed install, `on-failure: CONTINUE` goes on to the next phase ("Build specification
  reference", phases/*/on-failure). The run exits with the first failing command's status,
  each failure named on stderr as "<phase> command|finally <n> failed (exit <status>)".
- `env.exported-variables`: the listed variables' values as the shell has them at the end
  (after post_build they cannot change) are printed, and with --exported-variables FILE
  written there as NAME=value lines, also after a failed run. A listed variable never set is
  written empty (the reference does not say what CodeBuild exports then); AWS_* names are left
  out with a warning, since the reference says they cannot be exported.
- `artifacts`, with --artifacts DIR (which must be empty or absent): `files` patterns
  (`**/*` for all files recursively, `dir/*`, single paths) relative to `base-directory` (itself
  a pattern of top-level directories) or the source directory, `discard-paths`; the primary
  artifact is copied to DIR/primary/, each `secondary-artifacts.<Identifier>` to
  DIR/<Identifier>/, relative paths and mode bits kept. Patterns match files; a directory a
  pattern names is not copied (name its files, `dir/**/*`). A pattern that matches no file
  fails the run, before anything is copied, with CodeBuild's "no matching artifact paths
  found" (its UPLOAD_ARTIFACTS message; CodeBuild may only fail when no pattern matches at all,
  the reference does not say).

What it does not emulate:

- buildspec version 0.1 (refused), `run-as`, `env.shell` (always bash), `parameter-store`,
  `secrets-manager`, `git-credential-helper`, `proxy`, `batch`, `reports`, `cache`, and
  `phases.*.runtime-versions` (the interpreters on PATH are used);
- CodeBuild's own variables other than CODEBUILD_BUILD_SUCCEEDING (CODEBUILD_SRC_DIR,
  CODEBUILD_RESOLVED_SOURCE_VERSION, CODEBUILD_SRC_DIR_<source>, ...): the caller sets those
  a buildspec reads; secondary sources; build timeouts;
- CodeBuild running each command as a script of its own (as its logs show; the guide only says
  state carries over): here all commands share one bash, so `exit` in a command, or a failure
  after a command ran `set -e`, ends the whole run (later commands, finally blocks, phases and
  artifacts are skipped; exported variables are still written) where CodeBuild would fail just
  that command; the shell also runs with pipefail, which the guide does not state;
- artifacts `name`, `s3-prefix`, `exclude-paths`, `enable-symlinks` (a symlink is copied as the
  file it points to), ZIP packaging and the upload itself (DIR holds the unpacked trees).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

PHASES = ("install", "pre_build", "build", "post_build")
# "Build phase transitions": a failed install or pre_build goes to FINALIZING; a failed build
# goes on to post_build, and post_build (failed or not) to UPLOAD_ARTIFACTS.
ENDS_BUILD_ON_FAILURE = {"install": True, "pre_build": True, "build": False, "post_build": False}
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class BuildspecError(Exception):
    """The buildspec asks for something CodeBuild would reject or this runner cannot do."""


@dataclass
class Outcome:
    """What the shell left in its state file at exit."""

    status: int
    finished: bool  # the script ran to its end (no command exited the shell)
    upload: bool  # the build reached UPLOAD_ARTIFACTS (no ABORT, no failed install/pre_build)
    where: str  # the last command started
    exported: dict[str, str] = field(default_factory=dict)
    never_set: set[str] = field(default_factory=set)


def load(buildspec: Path) -> dict:
    spec = yaml.safe_load(buildspec.read_text()) or {}
    if str(spec.get("version")) != "0.2":
        raise BuildspecError(f"{buildspec}: only buildspec version 0.2 is supported")
    return spec


def exported_names(spec: dict) -> list[str]:
    """env.exported-variables, less the AWS_* names the reference says cannot be exported."""
    names = []
    for name in (spec.get("env") or {}).get("exported-variables") or []:
        name = str(name)
        if not NAME.match(name):
            raise BuildspecError(f"exported-variables: {name!r} is not a variable name")
        if name.startswith("AWS_"):
            print(f"[buildspec] {name} not exported: AWS_* variables cannot be", file=sys.stderr)
            continue
        names.append(name)
    return names


def on_failure(phase: str, body: dict) -> bool:
    """Whether a failure of this phase ends the build ("Build phase transitions")."""
    value = body.get("on-failure")
    if value is None:
        return ENDS_BUILD_ON_FAILURE[phase]
    if str(value).upper() not in ("ABORT", "CONTINUE"):
        raise BuildspecError(f"{phase}: on-failure must be ABORT or CONTINUE, not {value!r}")
    return str(value).upper() == "ABORT"


def _step(where: str, command: str) -> list[str]:
    """One command, skipped once its block failed; eval so each parses when it runs."""
    first_line = command.splitlines()[0] if command.strip() else command
    return [
        'if [ "$__bs_block_failed" -eq 0 ]; then',
        f"  __bs_where={shlex.quote(where)}",
        f"  echo {shlex.quote(f'[buildspec] {where}: {first_line}')}",
        f"  eval {shlex.quote(command)}",
        f'  __bs_check {shlex.quote(where)} "$?"',
        "fi",
    ]


def script(spec: dict, env: Mapping[str, str], exported: list[str], state: Path) -> str:
    """The bash program that runs the buildspec and leaves its outcome in `state`."""
    # The EXIT trap writes NUL-separated fields: status, finished, upload, where, then each
    # exported name with 1/0 for set and its value.
    dump = " ".join(f'{n} "${{{n}+1}}" "${{{n}-}}"' for n in exported)
    lines = [
        "set -o pipefail",
        "__bs_status=0 __bs_finished=0 __bs_stop=0 __bs_where=start __bs_block_failed=0",
        "__bs_check() {",
        '  if [ "$2" -ne 0 ]; then',
        '    echo "[buildspec] $1 failed (exit $2)" >&2',
        "    __bs_block_failed=1 __bs_phase_failed=1 CODEBUILD_BUILD_SUCCEEDING=0",
        '    if [ "$__bs_status" -eq 0 ]; then __bs_status=$2; fi',
        "  fi",
        "}",
        "__bs_end() {",
        "  local __bs_upload=0",
        '  if [ "$__bs_finished" -eq 1 ] && [ "$__bs_stop" -eq 0 ]; then __bs_upload=1; fi',
        f'  printf \'%s\\0\' "$1" "$__bs_finished" "$__bs_upload" "$__bs_where" {dump}'
        f" > {shlex.quote(str(state))}",
        "}",
        "trap '__bs_end \"$?\"' EXIT",
    ]
    for name, value in ((spec.get("env") or {}).get("variables") or {}).items():
        if name not in env:
            lines.append(f"export {name}={shlex.quote(str(value))}")
    # Set by CodeBuild itself ("Environment variables in build environments").
    lines.append("export CODEBUILD_BUILD_SUCCEEDING=1")
    phases = spec.get("phases") or {}
    for phase in PHASES:
        body = phases.get(phase) or {}
        ends_build = on_failure(phase, body)
        lines += ['if [ "$__bs_stop" -eq 0 ]; then', "__bs_phase_failed=0 __bs_block_failed=0"]
        for number, command in enumerate(body.get("commands") or [], 1):
            lines += _step(f"{phase} command {number}", str(command))
        # "finally" runs even when a command of the block failed (reference, phases/*/finally).
        lines.append("__bs_block_failed=0")
        for number, command in enumerate(body.get("finally") or [], 1):
            lines += _step(f"{phase} finally {number}", str(command))
        if ends_build:
            skipped = ", ".join([*PHASES[PHASES.index(phase) + 1 :], "artifacts"])
            note = f"[buildspec] {phase} failed: the build ends ({skipped} skipped)"
            lines.append(
                f'if [ "$__bs_phase_failed" -ne 0 ]; then __bs_stop=1; '
                f"echo {shlex.quote(note)} >&2; fi"
            )
        lines.append("fi")
    lines += ["__bs_finished=1", 'exit "$__bs_status"']
    return "\n".join(lines) + "\n"


def read_outcome(state: Path, returncode: int, exported: list[str]) -> Outcome:
    if not state.exists():  # killed before the trap could run
        return Outcome(returncode or 1, finished=False, upload=False, where="unknown")
    fields = state.read_bytes().decode("utf-8", "surrogateescape").split("\0")
    status, finished, upload, where, *rest = fields
    outcome = Outcome(int(status), finished == "1", upload == "1", where)
    for index, name in enumerate(exported):
        _, is_set, value = rest[3 * index : 3 * index + 3]
        outcome.exported[name] = value  # a name never set exports empty
        if is_set != "1":
            outcome.never_set.add(name)
    return outcome


def _yes(value: object) -> bool:
    return value is True or str(value).lower() in ("yes", "true")


def artifact_files(label: str, definition: dict, cwd: Path) -> dict[Path, Path]:
    """{destination relative to the artifact's root: source file} for one artifact."""
    files = definition.get("files")
    if not files:
        # "The artifacts/files sequence is always required" (reference, secondary-artifacts).
        raise BuildspecError(f"artifact {label}: `files` is required")
    base = definition.get("base-directory")
    if base is None:
        roots = [cwd]
    else:
        pattern = str(base).strip("/")
        roots = sorted(p for p in cwd.glob(pattern) if p.is_dir()) if pattern else [cwd]
        if not roots:
            raise BuildspecError(
                f"artifact {label}: base-directory {base!r} matches no directory: "
                "no matching artifact paths found"
            )
    discard = _yes(definition.get("discard-paths"))
    chosen: dict[Path, Path] = {}
    for pattern in map(str, files):
        if not pattern or pattern.startswith("/"):
            raise BuildspecError(f"artifact {label}: {pattern!r} is not a relative path")
        matched = False
        for root in roots:
            for path in sorted(root.glob(pattern.removeprefix("./"))):
                if not path.is_file():
                    continue
                matched = True
                relative = Path(path.name) if discard else path.relative_to(root)
                if chosen.get(relative, path) != path:
                    raise BuildspecError(
                        f"artifact {label}: {chosen[relative]} and {path} both become {relative}"
                    )
                chosen[relative] = path
        if not matched:
            raise BuildspecError(
                f"artifact {label}: {pattern!r} matches no file: no matching artifact paths found"
            )
    return chosen


def collect_artifacts(spec: dict, cwd: Path, out: Path) -> None:
    """Copy the primary artifact to out/primary and each secondary to out/<Identifier>."""
    artifacts = spec["artifacts"]
    plan = {"primary": artifact_files("primary", artifacts, cwd)}
    for identifier, definition in (artifacts.get("secondary-artifacts") or {}).items():
        identifier = str(identifier)
        if identifier == "primary" or not re.fullmatch(r"[A-Za-z0-9_.-]+", identifier):
            raise BuildspecError(f"secondary artifact identifier {identifier!r} is not usable")
        plan[identifier] = artifact_files(identifier, definition or {}, cwd)
    for name, chosen in plan.items():
        for relative, source in sorted(chosen.items()):
            target = out / name / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)  # content, mode bits and times
        print(f"[buildspec] artifact {name}: {len(chosen)} files in {out / name}")


def run(
    buildspec: Path,
    cwd: Path,
    env: Mapping[str, str] = os.environ,
    exported_variables: Path | None = None,
    artifacts: Path | None = None,
) -> int:
    """Run the buildspec in cwd; the exit status CodeBuild's outcome maps to (0: succeeded)."""
    try:
        spec = load(buildspec)
        exported = exported_names(spec)
        if artifacts is not None:
            if not spec.get("artifacts"):
                raise BuildspecError(f"{buildspec} has no artifacts section")
            if artifacts.exists() and any(artifacts.iterdir()):
                raise BuildspecError(f"{artifacts} is not empty")
        with tempfile.TemporaryDirectory(prefix="buildspec.") as temporary:
            state = Path(temporary) / "state"
            program = script(spec, env, exported, state)
            # The project's own buildspec, run by the bash on PATH as CodeBuild's shell would.
            command = ["bash", "-c", program]
            returncode = subprocess.run(command, cwd=cwd, env=dict(env), check=False).returncode  # noqa: S603
            outcome = read_outcome(state, returncode, exported)
    except BuildspecError as error:
        print(f"[buildspec] {error}", file=sys.stderr)
        return 2
    status = outcome.status
    if not outcome.finished:
        print(
            f"[buildspec] {outcome.where} ended the shell (exit {status}): later commands, "
            "finally blocks, phases and artifacts did not run",
            file=sys.stderr,
        )
        status = status or 1
    for name, value in outcome.exported.items():
        never = " (never set)" if name in outcome.never_set else ""
        print(f"[buildspec] exported {name}={value}{never}")
    if exported_variables is not None:
        exported_variables.write_text(
            "".join(f"{name}={value}\n" for name, value in outcome.exported.items()),
            errors="surrogateescape",
        )
    if artifacts is not None and outcome.upload:
        try:
            collect_artifacts(spec, cwd, artifacts)
        except BuildspecError as error:
            print(f"[buildspec] UPLOAD_ARTIFACTS failed: {error}", file=sys.stderr)
            status = status or 1
    return status


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.buildspec",
        description="Run a CodeBuild buildspec here (from the source directory).",
    )
    parser.add_argument("buildspec", type=Path)
    parser.add_argument(
        "--exported-variables",
        type=Path,
        metavar="FILE",
        help="write env.exported-variables as NAME=value lines to FILE",
    )
    parser.add_argument(
        "--artifacts",
        type=Path,
        metavar="DIR",
        help="collect artifacts into DIR/primary and DIR/<Identifier> (DIR empty or absent)",
    )
    args = parser.parse_args(argv)
    return run(
        args.buildspec.resolve(),
        Path.cwd(),
        exported_variables=args.exported_variables,
        artifacts=args.artifacts.resolve() if args.artifacts else None,
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
