"""make up's environment: what every Procfile process gets from local/up.py."""

from __future__ import annotations

import subprocess

from local import up
from local.config import LocalConfig


def git(repo, *args) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@localhost", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def test_a_git_checkout_gives_its_head_commit(tmp_path):
    git(tmp_path, "init", "-q")
    git(tmp_path, "commit", "-q", "--allow-empty", "-m", "one")

    assert up.git_commit(tmp_path) == git(tmp_path, "rev-parse", "HEAD")


def test_a_tree_without_git_has_no_commit(tmp_path):
    # An unpacked zip of the source (CodeBuild's, a download) has no .git.
    assert up.git_commit(tmp_path) is None


def test_the_stack_runs_with_app_version_set_to_the_checkouts_commit(monkeypatch):
    monkeypatch.setattr(up, "git_commit", lambda: "c0ffee" * 6 + "c0ff")
    env = up.stack_environment(LocalConfig.from_env({}), base={"PATH": "/bin"})

    assert env["APP_VERSION"] == "c0ffee" * 6 + "c0ff"


def test_an_app_version_given_wins_and_none_is_invented_without_git(monkeypatch):
    cfg = LocalConfig.from_env({})
    monkeypatch.setattr(up, "git_commit", lambda: "a" * 40)
    given = up.stack_environment(cfg, base={"PATH": "/bin", "APP_VERSION": "b" * 40})
    monkeypatch.setattr(up, "git_commit", lambda: None)
    no_git = up.stack_environment(cfg, base={"PATH": "/bin"})

    assert given["APP_VERSION"] == "b" * 40
    assert "APP_VERSION" not in no_git  # the services then report "unknown"
