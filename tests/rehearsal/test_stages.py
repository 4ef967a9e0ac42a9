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


SHA = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"
WORKER = stages.WorkerBuild("yolov5n", "onnx", SHA)


def test_the_healthz_version_is_read_from_its_json():
    assert stages.healthz_version(b'{"status":"ok","version":"%s"}' % SHA.encode()) == SHA
    assert stages.healthz_version(b'{"status":"ok"}') is None
    assert stages.healthz_version(b"ok") is None
    assert stages.healthz_version(b"[1]") is None


def replies_from(*texts):
    pending = list(texts)
    return lambda: pending.pop(0)


def test_version_is_asked_again_until_a_process_that_saw_the_worker_answers(tmp_path):
    ask = replies_from(
        "polybot 1a2b3c4 · worker: not seen yet",
        "polybot 1a2b3c4 · worker 1a2b3c4 · yolov5n (onnx)",
    )
    text = stages.expect_version_reply(ask, SHA, WORKER, tmp_path / "log")
    assert text == "polybot 1a2b3c4 · worker 1a2b3c4 · yolov5n (onnx)"
    assert text in (tmp_path / "log").read_text()


@pytest.mark.parametrize(
    "reply",
    [
        "polybot 0000000 · worker 1a2b3c4 · yolov5n (onnx)",  # an older polybot still answers
        "polybot 1a2b3c4 · worker 0000000 · yolov5n (onnx)",  # an older worker finished it
        "polybot 1a2b3c4 · worker 1a2b3c4 · yolov5n (torch)",
        "Hi! Send me a photo",
    ],
)
def test_a_version_reply_naming_another_release_fails_the_stage(tmp_path, reply):
    with pytest.raises(stages.StageFailed, match="/version answered"):
        stages.expect_version_reply(replies_from(reply), SHA, WORKER, tmp_path / "log")


def test_a_worker_never_seen_fails_the_stage_after_its_attempts(tmp_path):
    calls = []

    def ask():
        calls.append(1)
        return "polybot 1a2b3c4 · worker: not seen yet"

    with pytest.raises(stages.StageFailed, match="not seen yet"):
        stages.expect_version_reply(ask, SHA, WORKER, tmp_path / "log", attempts=3)
    assert len(calls) == 3
