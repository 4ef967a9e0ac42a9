"""The Source stage's zip: what `git archive` records is what the stages get."""

from __future__ import annotations

import stat
import subprocess

import pytest

from rehearsal import stages


def git(repo, *args):
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@localhost", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "hook.sh").write_text("#!/bin/sh\necho hi\n")
    (repo / "hook.sh").chmod(0o755)
    (repo / "README").write_text("plain\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "one")
    (repo / "untracked.txt").write_text("not in the commit\n")
    return repo


def test_the_source_zip_keeps_the_modes_a_zip_records_and_nothing_else(repo, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    rev = stages.source(repo, "HEAD", work, work / "source.log")
    assert len(rev.sha) == 40
    assert sorted(p.name for p in rev.src.iterdir()) == ["README", "hook.sh"]
    assert rev.src.joinpath("hook.sh").stat().st_mode & stat.S_IXUSR
    assert not rev.src.joinpath("README").stat().st_mode & stat.S_IXUSR


def test_a_failing_command_fails_the_stage_with_its_output_in_the_log(tmp_path):
    log = tmp_path / "stage.log"
    with pytest.raises(stages.StageFailed, match="exited 3"):
        stages.sh(["bash", "-c", "echo about to fail; exit 3"], log)
    assert "about to fail" in log.read_text()
