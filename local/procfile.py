"""local/Procfile read once: each process's name → its argv, as honcho would run it.

honcho hands each line to `/bin/sh -c`, so the shell splits it and expands `$NAME` from the
environment local/up.py prepares. Here the same line is split with shlex and its `$NAME` /
`${NAME}` filled from the environment given; an unset variable is an error rather than the
shell's empty string. `python` is the interpreter running this, as honcho finds it: local/up.py
puts that interpreter's directory first on the PATH. The file uses nothing more; a line that
would need more of the shell (pipes, single quotes, `$(...)`) is refused.

Test, bench and rehearsal tooling start the Procfile's processes from here (local/harness.py,
bench/procs.py, the rehearsal), so the commands are written only in the Procfile.
"""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path

from local.config import PROCFILE

_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")  # honcho's Procfile line
_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
_SHELL_ONLY = re.compile(r"[|;&<>`']|\$\(")


class ProcfileError(ValueError):
    pass


def entries(path: Path = PROCFILE) -> dict[str, str]:
    """name → command line, in the file's order (comments and blank lines skipped)."""
    found = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            raise ProcfileError(f"{path}:{number}: not a Procfile line: {line!r}")
        name, command = match.groups()
        if _SHELL_ONLY.search(command):
            raise ProcfileError(f"{path}:{number}: {name} needs a shell: {command!r}")
        found[name] = command.strip()
    return found


def expand(word: str, env: Mapping[str, str]) -> str:
    def value(m: re.Match) -> str:
        name = m.group(1) or m.group(2)
        if name not in env:
            raise ProcfileError(f"the Procfile uses ${name}, which the environment lacks")
        return env[name]

    return _VARIABLE.sub(value, word)


def argv(name: str, env: Mapping[str, str], path: Path = PROCFILE) -> list[str]:
    """The process `name`'s argv with the environment `env` it will run with."""
    commands = entries(path)
    if name not in commands:
        raise ProcfileError(f"{path} has no process {name!r} (it has {', '.join(commands)})")
    words = [expand(word, env) for word in shlex.split(commands[name])]
    if words[0] == "python":
        words[0] = sys.executable
    return words


def moto_argv(port: int, host: str | None = None, path: Path = PROCFILE) -> list[str]:
    """The Procfile's moto on `port`, listening on `host` instead of the file's address if
    given (the rehearsal's containers reach it on the podman bridge)."""
    words = argv("moto", {"MOTO_PORT": str(port)}, path)
    if host is not None:
        if "-H" not in words[:-1]:
            raise ProcfileError(f"{path}: moto's command has no -H to replace: {words}")
        words[words.index("-H") + 1] = host
    return words
