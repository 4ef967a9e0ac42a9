"""The buildspec runner, against CodeBuild's documented behaviour (real bash, in tmp_path).

Pages named are from the AWS CodeBuild User Guide: "Build specification reference for
CodeBuild", "Build phase transitions", "Environment variables in build environments".
"""

from __future__ import annotations

import os
import stat
import textwrap
from pathlib import Path

import pytest

from tools.buildspec import main, run

ENV = {"PATH": "/usr/bin:/bin"}


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


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


# Phase failures ("Build phase transitions"; reference, phases/*/on-failure and finally).


def test_a_failed_build_still_runs_post_build_with_build_succeeding_0(tmp_path, capfd):
    """BUILD failing goes on to POST_BUILD; the run exits with the failing command's status."""
    spec = write(
        tmp_path,
        """
        version: 0.2
        phases:
          pre_build:
            commands:
              - echo "pre_build $CODEBUILD_BUILD_SUCCEEDING" >> log
          build:
            commands:
              - echo first >> log
              - (exit 7)
              - echo never >> log
          post_build:
            commands:
              - echo "post_build $CODEBUILD_BUILD_SUCCEEDING" >> log
        """,
    )
    assert run(spec, tmp_path, env=ENV) == 7
    assert lines(tmp_path / "log") == ["pre_build 1", "first", "post_build 0"]
    assert "build command 2 failed (exit 7)" in capfd.readouterr().err


def test_codebuild_sets_build_succeeding_itself(tmp_path):
    """CODEBUILD_* is CodeBuild's own: an environment's value does not win over it."""
    spec = write(
        tmp_path,
        """
        version: 0.2
        phases:
          post_build:
            commands:
              - echo "$CODEBUILD_BUILD_SUCCEEDING" > out
        """,
    )
    assert run(spec, tmp_path, env={**ENV, "CODEBUILD_BUILD_SUCCEEDING": "0"}) == 0
    assert lines(tmp_path / "out") == ["1"]


@pytest.mark.parametrize("failing", ["install", "pre_build"])
def test_a_failed_install_or_pre_build_ends_the_build_after_its_finally(tmp_path, capfd, failing):
    spec = write(
        tmp_path,
        f"""
        version: 0.2
        phases:
          {failing}:
            commands:
              - (exit 3)
              - echo skipped >> log
            finally:
              - echo "finally $CODEBUILD_BUILD_SUCCEEDING" >> log
          build:
            commands:
              - echo build >> log
          post_build:
            commands:
              - echo post_build >> log
        """,
    )
    assert run(spec, tmp_path, env=ENV) == 3
    assert lines(tmp_path / "log") == ["finally 0"]
    assert f"{failing} failed: the build ends" in capfd.readouterr().err


def test_a_failing_finally_command_fails_its_phase(tmp_path):
    spec = write(
        tmp_path,
        """
        version: 0.2
        phases:
          install:
            commands:
              - echo install >> log
            finally:
              - (exit 4)
              - echo skipped >> log
          build:
            commands:
              - echo build >> log
        """,
    )
    assert run(spec, tmp_path, env=ENV) == 4
    assert lines(tmp_path / "log") == ["install"]


def test_on_failure_continue_goes_on_to_the_next_phase_and_the_build_still_fails(tmp_path):
    spec = write(
        tmp_path,
        """
        version: 0.2
        phases:
          install:
            on-failure: CONTINUE
            commands:
              - (exit 5)
          pre_build:
            commands:
              - echo "pre_build $CODEBUILD_BUILD_SUCCEEDING" >> log
        """,
    )
    assert run(spec, tmp_path, env=ENV) == 5
    assert lines(tmp_path / "log") == ["pre_build 0"]


def test_on_failure_abort_skips_post_build_and_artifacts(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    spec = write(
        tmp_path,
        """
        version: 0.2
        phases:
          build:
            on-failure: ABORT
            commands:
              - echo built > out
              - (exit 6)
          post_build:
            commands:
              - echo post_build >> log
        artifacts:
          files:
            - out
        """,
    )
    out = tmp_path / "artifacts"
    assert run(spec, source, env=ENV, artifacts=out) == 6
    assert not (source / "log").exists()
    assert not out.exists()


def test_on_failure_accepts_only_abort_or_continue(tmp_path, capfd):
    spec = write(
        tmp_path,
        """
        version: 0.2
        phases:
          build:
            on-failure: RETRY
            commands:
              - echo never > out
        """,
    )
    assert run(spec, tmp_path, env=ENV) == 2
    assert not (tmp_path / "out").exists()
    assert "on-failure must be ABORT or CONTINUE" in capfd.readouterr().err


def test_a_command_that_exits_the_shell_is_named(tmp_path, capfd):
    """Not CodeBuild's behaviour (one shell here): the run ends, and says where."""
    spec = write(
        tmp_path,
        """
        version: 0.2
        env:
          exported-variables:
            - STEP
        phases:
          build:
            commands:
              - STEP=exiting
              - exit 0
          post_build:
            commands:
              - echo post_build >> log
        """,
    )
    exported = tmp_path / "exported.env"
    assert run(spec, tmp_path, env=ENV, exported_variables=exported) == 1
    assert "build command 2 ended the shell (exit 0)" in capfd.readouterr().err
    assert not (tmp_path / "log").exists()
    assert lines(exported) == ["STEP=exiting"]


# env/exported-variables (reference): the values at the end of the build.


def test_exported_variables_are_written_as_the_shell_has_them_at_the_end(tmp_path, capfd):
    spec = write(
        tmp_path,
        """
        version: 0.2
        env:
          variables:
            FROM_SPEC: spec
            NOT_LISTED: hidden
          exported-variables:
            - IMAGE_TAG
            - FROM_SPEC
            - NEVER_SET
            - AWS_REGION
        phases:
          build:
            commands:
              - export IMAGE_TAG=first
          post_build:
            commands:
              - cd /
              - IMAGE_TAG="$IMAGE_TAG-then-post_build"
        """,
    )
    exported = tmp_path / "exported.env"
    env = {**ENV, "AWS_REGION": "eu-west-1"}
    assert run(spec, tmp_path, env=env, exported_variables=exported) == 0
    assert exported.read_text() == "IMAGE_TAG=first-then-post_build\nFROM_SPEC=spec\nNEVER_SET=\n"
    captured = capfd.readouterr()
    assert "[buildspec] exported IMAGE_TAG=first-then-post_build\n" in captured.out
    assert "[buildspec] exported NEVER_SET= (never set)\n" in captured.out
    assert "AWS_REGION not exported" in captured.err


def test_exported_variables_are_written_after_a_failed_build(tmp_path):
    spec = write(
        tmp_path,
        """
        version: 0.2
        env:
          exported-variables:
            - REACHED
        phases:
          build:
            commands:
              - REACHED=build
              - (exit 2)
        """,
    )
    exported = tmp_path / "exported.env"
    assert run(spec, tmp_path, env=ENV, exported_variables=exported) == 2
    assert lines(exported) == ["REACHED=build"]


# artifacts (reference, artifacts/*; "Build phase transitions" for when they are collected).

ARTIFACTS_SPEC = """
    version: 0.2
    phases:
      build:
        commands:
          - mkdir -p bundles/polybot/scripts bundles/yolo5 target/sub
          - echo app > bundles/polybot/appspec.yml
          - printf '#!/bin/sh\\n' > bundles/polybot/scripts/start.sh
          - chmod 755 bundles/polybot/scripts/start.sh
          - echo yolo > bundles/yolo5/appspec.yml
          - echo jar > target/app.jar
          - echo deep > target/sub/deep.txt
          - echo {status} > status
          - exit_status={status}
          - (exit $exit_status)
    artifacts:
      files:
        - bundles/**/*
      secondary-artifacts:
        PolybotBundle:
          base-directory: bundles/polybot
          files:
            - '**/*'
        Flat:
          base-directory: 'targ*'
          discard-paths: yes
          files:
            - '**/*'
    """


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_artifacts_are_collected_per_identifier_with_paths_and_modes(tmp_path, capfd):
    source = tmp_path / "src"
    source.mkdir()
    spec = write(tmp_path, ARTIFACTS_SPEC.format(status=0))
    out = tmp_path / "artifacts"
    assert run(spec, source, env=ENV, artifacts=out) == 0
    assert tree(out / "primary") == [
        "bundles/polybot/appspec.yml",
        "bundles/polybot/scripts/start.sh",
        "bundles/yolo5/appspec.yml",
    ]
    assert tree(out / "PolybotBundle") == ["appspec.yml", "scripts/start.sh"]
    assert tree(out / "Flat") == ["app.jar", "deep.txt"]
    assert sorted(p.name for p in out.iterdir()) == ["Flat", "PolybotBundle", "primary"]
    start = out / "PolybotBundle" / "scripts" / "start.sh"
    assert stat.S_IMODE(start.stat().st_mode) == 0o755
    assert os.access(start, os.X_OK)
    assert "artifact PolybotBundle: 2 files" in capfd.readouterr().out


def test_artifacts_are_still_collected_after_a_failed_build(tmp_path):
    """ "The UPLOAD_ARTIFACTS phase is always attempted, even if the BUILD phase fails"."""
    source = tmp_path / "src"
    source.mkdir()
    spec = write(tmp_path, ARTIFACTS_SPEC.format(status=9))
    out = tmp_path / "artifacts"
    assert run(spec, source, env=ENV, artifacts=out) == 9
    assert tree(out / "PolybotBundle") == ["appspec.yml", "scripts/start.sh"]


def test_artifacts_are_not_collected_after_a_failed_pre_build(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "kept").write_text("x")
    spec = write(
        tmp_path,
        """
        version: 0.2
        phases:
          pre_build:
            commands:
              - (exit 1)
        artifacts:
          files:
            - kept
        """,
    )
    out = tmp_path / "artifacts"
    assert run(spec, source, env=ENV, artifacts=out) == 1
    assert not out.exists()


def test_a_pattern_matching_no_file_fails_the_run_and_copies_nothing(tmp_path, capfd):
    source = tmp_path / "src"
    source.mkdir()
    spec = write(
        tmp_path,
        """
        version: 0.2
        phases:
          build:
            commands:
              - echo here > present.txt
        artifacts:
          files:
            - present.txt
            - dist/*.zip
        """,
    )
    out = tmp_path / "artifacts"
    assert run(spec, source, env=ENV, artifacts=out) == 1
    err = capfd.readouterr().err
    assert "'dist/*.zip' matches no file: no matching artifact paths found" in err
    assert not out.exists()


def test_a_secondary_base_directory_matching_nothing_fails_the_run(tmp_path, capfd):
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.txt").write_text("a")
    spec = write(
        tmp_path,
        """
        version: 0.2
        artifacts:
          files:
            - a.txt
          secondary-artifacts:
            Bundle:
              base-directory: bundles/missing
              files:
                - '**/*'
        """,
    )
    assert run(spec, source, env=ENV, artifacts=tmp_path / "artifacts") == 1
    assert "artifact Bundle: base-directory 'bundles/missing' matches no directory" in (
        capfd.readouterr().err
    )


def test_artifacts_refuse_a_directory_that_is_not_empty(tmp_path, capfd):
    spec = write(tmp_path, "version: 0.2\nartifacts:\n  files:\n    - '**/*'\n")
    out = tmp_path / "artifacts"
    out.mkdir()
    (out / "stale").write_text("old")
    assert run(spec, tmp_path, env=ENV, artifacts=out) == 2
    assert "is not empty" in capfd.readouterr().err


def test_the_command_line_takes_both_options(tmp_path, monkeypatch):
    source = tmp_path / "src"
    source.mkdir()
    spec = write(
        tmp_path,
        """
        version: 0.2
        env:
          exported-variables:
            - VERSION
        phases:
          build:
            commands:
              - VERSION=1.2
              - echo "$VERSION" > version.txt
        artifacts:
          files:
            - version.txt
        """,
    )
    monkeypatch.chdir(source)
    argv = ["--exported-variables", "../vars.env", "--artifacts", "../out", str(spec)]
    assert main(argv) == 0
    assert lines(tmp_path / "vars.env") == ["VERSION=1.2"]
    assert lines(tmp_path / "out" / "primary" / "version.txt") == ["1.2"]
