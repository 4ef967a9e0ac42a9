"""local/procfile.py: the Procfile's commands as argv, and every starter takes them from there."""

from __future__ import annotations

import shlex
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from local import procfile
from local.config import PROCFILE

ENV = {"MOTO_PORT": "5123"}


def test_every_line_of_the_file_is_an_entry_in_order():
    lines = [
        line
        for line in PROCFILE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert list(procfile.entries()) == [line.split(":", 1)[0] for line in lines]
    assert list(procfile.entries()) == ["moto", "emulator", "bootstrap", "polybot", "yolo5"]


@pytest.mark.parametrize("name", list(procfile.entries()))
def test_each_argv_is_the_line_as_the_shell_splits_it(name):
    line = procfile.entries()[name]
    expected = [w.replace("$MOTO_PORT", ENV["MOTO_PORT"]) for w in shlex.split(line)]
    expected[0] = sys.executable if expected[0] == "python" else expected[0]
    assert procfile.argv(name, ENV) == expected


def test_variables_are_filled_from_the_environment_given():
    argv = procfile.argv("moto", ENV)
    assert argv[argv.index("-p") + 1] == "5123"
    assert not any("$" in word for word in argv)


def test_a_variable_the_environment_lacks_is_an_error():
    with pytest.raises(procfile.ProcfileError, match="MOTO_PORT"):
        procfile.argv("moto", {})


def test_braces_and_a_missing_process(tmp_path):
    path = tmp_path / "Procfile"
    path.write_text("# a comment\n\nweb: python -m app --port=${PORT}\n")
    assert procfile.argv("web", {"PORT": "8000"}, path) == [
        sys.executable,
        "-m",
        "app",
        "--port=8000",
    ]
    with pytest.raises(procfile.ProcfileError, match="no process 'worker'"):
        procfile.argv("worker", {}, path)


@pytest.mark.parametrize("command", ["run | tee log", "sh -c 'x'", "echo $(date)", "a; b"])
def test_a_line_that_needs_a_shell_is_refused(tmp_path, command):
    path = tmp_path / "Procfile"
    path.write_text(f"web: {command}\n")
    with pytest.raises(procfile.ProcfileError, match="needs a shell"):
        procfile.entries(path)


def test_moto_argv_is_the_procfiles_with_the_port_and_optionally_another_host():
    assert procfile.moto_argv(5123) == procfile.argv("moto", ENV)
    bridged = procfile.moto_argv(5123, "0.0.0.0")  # noqa: S104 - a test value
    assert bridged[bridged.index("-H") + 1] == "0.0.0.0"  # noqa: S104
    assert [w for w in bridged if w != "0.0.0.0"] == [  # noqa: S104
        w for w in procfile.moto_argv(5123) if w != "127.0.0.1"
    ]


# -- every user takes its command from the Procfile --------------------------------------------


class Recorded(Exception):
    """Stops a starter at its first process, with the argv it would have run."""


def record_popen(monkeypatch, module):
    def popen(argv, *args, **kwargs):
        raise Recorded(list(argv))

    monkeypatch.setattr(module.subprocess, "Popen", popen)


def test_bench_moto_server_runs_the_procfiles_moto(monkeypatch):
    from bench import procs

    monkeypatch.setattr(procs, "free_port", lambda: 5123)
    record_popen(monkeypatch, procs)
    with pytest.raises(Recorded) as started, procs.moto_server():
        pass
    assert started.value.args[0] == procfile.moto_argv(5123)


def test_the_rehearsals_moto_and_emulator_run_the_procfiles(monkeypatch, tmp_path):
    from rehearsal import stand_ins

    monkeypatch.setattr(stand_ins, "free_port", lambda: 5123)
    record_popen(monkeypatch, stand_ins)
    with pytest.raises(Recorded) as started, stand_ins.moto(tmp_path, {}, "p", "us-east-1"):
        pass
    assert started.value.args[0] == procfile.moto_argv(5123, "0.0.0.0")  # noqa: S104

    aws = type("Aws", (), {"client": lambda self, s: FakeSecrets(), "secret_arn": "arn"})()
    with pytest.raises(Recorded) as started, stand_ins.emulator(tmp_path, {}, aws):
        pass
    assert started.value.args[0] == procfile.argv("emulator", {})


class FakeSecrets:
    def get_secret_value(self, SecretId):
        return {"SecretString": "1:token"}


def test_local_pieces_starts_every_procfile_process_with_its_argv(monkeypatch, tmp_path):
    from local import harness

    started: list[tuple[str, list[str]]] = []

    def start(self, name, argv, **env):
        started.append((name, argv))
        return harness.Service(name, None, Path(self.tmp, f"{name}.log"))

    monkeypatch.setattr(harness.LocalStack, "start", start)

    @contextmanager
    def running(stack):
        yield stack

    monkeypatch.setattr(harness, "_running", running)
    with harness.local_pieces(tmp_path, workers=2) as stack:
        expected_env = stack.env
    names = [name for name, _ in started]
    assert names[:4] == ["moto", "emulator", "bootstrap", "polybot"]
    assert [n.split("-")[0] for n in names[4:]] == ["yolo5", "yolo5"]
    for name, argv in started:
        assert argv == procfile.argv(name.split("-")[0], expected_env), name
