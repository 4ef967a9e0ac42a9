"""The buildspec runner: phases in order in one shell, CodeBuild's variable precedence."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tools.buildspec import run


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "buildspec.yml"
    path.write_text(textwrap.dedent(text))
    return path


def test_phases_run_in_order_in_one_shell(tmp_path):
    spec = write(
        tmp_path,
        """
        version: 0.2
        env:
          variables:
            GREETING: hello
        phases:
          post_build:
            commands:
              - echo "post $STEP" >> log
          build:
            commands:
              - STEP=built
              - echo "build $GREETING" >> log
          install:
            commands:
              - echo install >> log
        """,
    )
    assert run(spec, tmp_path, env={"PATH": "/usr/bin:/bin"}) == 0
    assert (tmp_path / "log").read_text().splitlines() == ["install", "build hello", "post built"]


def test_the_environment_wins_over_the_buildspec_variables(tmp_path):
    """As a CodeBuild project's variables take precedence over the buildspec's."""
    spec = write(
        tmp_path,
        """
        version: 0.2
        env:
          variables:
            INDEX: https://example.invalid/simple
        phases:
          build:
            commands:
              - echo "$INDEX" > out
        """,
    )
    assert run(spec, tmp_path, env={"PATH": "/usr/bin:/bin", "INDEX": "mirror"}) == 0
    assert (tmp_path / "out").read_text() == "mirror\n"


def test_a_failing_command_stops_the_run_with_its_status(tmp_path, capfd):
    spec = write(
        tmp_path,
        """
        version: 0.2
        phases:
          build:
            commands:
              - echo first >> log
              - (exit 7)
              - echo never >> log
          post_build:
            commands:
              - echo never >> log
        """,
    )
    assert run(spec, tmp_path, env={"PATH": "/usr/bin:/bin"}) == 7
    assert (tmp_path / "log").read_text() == "first\n"
    assert "build command 2 failed (exit 7)" in capfd.readouterr().err
