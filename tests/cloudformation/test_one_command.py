"""deploy.sh --repository: one command from a clone to a running pipeline.

Against the recording `aws` of deploy_fake.py (moto serves neither `cloudformation deploy` for
our stacks nor CodeStar connections nor EC2 quotas); openssl and python3 are the real ones,
python3 behind a shim that records its argv, so the token's absence from every argv is seen.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from tests.cloudformation.deploy_fake import install_fake_aws
from tests.cloudformation.recording_aws import calls
from tests.cloudformation.scripts import run_script

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw-x"
SECRET = {"TELEGRAM_TOKEN": "REPLACE_WITH_BOT_TOKEN", "WEBHOOK_SECRET": "w" * 48}
CONNECTION_NAME = "demo-github"
UNSET = {"PREFIX", "CERTIFICATE_ARN", "AWS_REGION", "DOMAIN_NAME", "ALARM_EMAIL"}

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


@pytest.fixture
def fake_aws(tmp_path, monkeypatch):
    state = install_fake_aws(tmp_path, monkeypatch)
    # What the data stack leaves: its secret, with the generated WEBHOOK_SECRET.
    (state / "secret.json").write_text(json.dumps(SECRET))
    shim = state / "bin" / "python3"
    shim.write_text(
        f'#!/bin/sh\nprintf \'%s\\n\' "$*" >> {state / "python-argv"}\nexec {sys.executable} "$@"\n'
    )
    shim.chmod(0o755)
    return state


def one_command(*extra: str, stdin: str = "") -> list[str]:
    return ["--prefix", "demo", "--region", "eu-west-1", "--repository", "octo/polybot", *extra]


def run(*args: str, stdin: str = ""):
    return run_script("deploy.sh", *args, unset=UNSET, stdin=stdin)


def first_index(log: list[list[str]], *words: str) -> int:
    return next(i for i, c in enumerate(log) if all(w in c for w in words))


def deployed(log: list[list[str]]) -> list[str]:
    return [c[c.index("--stack-name") + 1] for c in log if c[:2] == ["cloudformation", "deploy"]]


def test_one_command_runs_every_step_in_the_order_that_works(fake_aws):
    result = run(*one_command("--token-stdin"), stdin=TOKEN + "\n")

    assert result.returncode == 0, result.stderr
    log = calls(fake_aws)
    # The stacks, then certificate.sh's update of the app stack, then the pipeline.
    assert deployed(log) == [
        "demo-network",
        "demo-data",
        "demo-app",
        "demo-observability",
        "demo-app",
        "demo-pipeline",
    ]
    certificate = first_index(log, "acm", "import-certificate")
    token = first_index(log, "secretsmanager", "put-secret-value")
    connection = first_index(log, "codestar-connections", "create-connection", "--tags")
    package = first_index(log, "cloudformation", "package")
    pipeline = first_index(log, "deploy", "demo-pipeline")
    observability = first_index(log, "deploy", "demo-observability")
    # Certificate and token before the pipeline: its creation starts the first release.
    assert observability < certificate < token < connection < package < pipeline
    assert log[package][log[package].index("--s3-bucket") + 1] == (
        "demo-deploy-123456789012-eu-west-1"
    )
    params = log[pipeline]
    for wanted in (
        "FullRepositoryId=octo/polybot",
        "BranchName=main",
        "AppStackName=demo-app",
        "Prefix=demo",
        "ConnectionArn=arn:aws:codestar-connections:us-east-1:123456789012:connection/0",
    ):
        assert wanted in params
    assert params[params.index("--template-file") + 1].endswith("pipeline.packaged.yaml")
    # The connection was created tagged, and waited for through its handshake.
    assert [a for a in log[connection] if "ManagedBy" in a] == ["Key=ManagedBy,Value=deploy.sh"]
    assert "Update pending connection" in result.stderr
    assert "GitHub connection: AVAILABLE" in result.stderr
    # The secret holds the token, its WEBHOOK_SECRET kept.
    stored = json.loads((fake_aws / "secret.json").read_text())
    assert stored == {**SECRET, "TELEGRAM_TOKEN": TOKEN}
    # One region everywhere.
    assert set((fake_aws / "regions").read_text().split()) == {"eu-west-1"}


def test_the_token_appears_in_no_argv_and_no_output(fake_aws):
    result = run(*one_command("--token-stdin"), stdin=TOKEN + "\n")
    assert result.returncode == 0, result.stderr
    assert json.loads((fake_aws / "secret.json").read_text())["TELEGRAM_TOKEN"] == TOKEN
    assert TOKEN not in (fake_aws / "calls.jsonl").read_text()
    assert (fake_aws / "python-argv").exists()  # python3 ran, through the shim
    assert TOKEN not in (fake_aws / "python-argv").read_text()
    assert TOKEN not in result.stdout + result.stderr
    assert TOKEN.split(":")[1] not in result.stdout + result.stderr


def test_a_second_run_changes_nothing(fake_aws):
    first = run(*one_command("--token-stdin"), stdin=TOKEN + "\n")
    assert first.returncode == 0, first.stderr
    before = len(calls(fake_aws))

    second = run(*one_command())

    assert second.returncode == 0, second.stderr
    log = calls(fake_aws)[before:]
    changes = [
        ("s3api", "create-bucket"),
        ("acm", "import-certificate"),
        ("secretsmanager", "put-secret-value"),
        ("codestar-connections", "create-connection"),
        ("cloudformation", "delete-stack"),
    ]
    made = [c for c in log if tuple(c[:2]) in changes and "--generate-cli-skeleton" not in c]
    assert made == []
    assert "bot token: stored (kept)" in second.stderr
    # The stacks are deployed again with nothing to change (the CLI accepts an empty change
    # set), each with the same parameters as before.
    assert deployed(log) == [
        "demo-network",
        "demo-data",
        "demo-app",
        "demo-observability",
        "demo-pipeline",
    ]


@pytest.mark.parametrize(
    "fault",
    [
        "deploy demo-app",
        "acm import-certificate",
        "secretsmanager put-secret-value",
        "codestar-connections create-connection --tags",
        "cloudformation package",
        "deploy demo-pipeline",
    ],
)
def test_a_run_after_a_failure_resumes_and_finishes_once(fake_aws, fault):
    (fake_aws / "faults").write_text(fault + "\n")
    failed = run(*one_command("--token-stdin"), stdin=TOKEN + "\n")
    assert failed.returncode != 0
    assert "injected fault" in failed.stderr

    again = run(*one_command("--token-stdin"), stdin=TOKEN + "\n")

    assert again.returncode == 0, again.stderr
    log = calls(fake_aws)
    assert deployed(log)[-1] == "demo-pipeline"
    # Whatever ran before the failure is not made twice.
    assert len([c for c in log if c[:2] == ["s3api", "create-bucket"]]) == 1
    assert len((fake_aws / "connections").read_text().splitlines()) == 1
    assert len([c for c in log if "import-certificate" in c]) == 1 + (fault.startswith("acm"))
    assert json.loads((fake_aws / "secret.json").read_text())["TELEGRAM_TOKEN"] == TOKEN


def test_a_pending_handshake_stops_with_how_to_resume_and_the_next_run_picks_it_up(
    fake_aws, monkeypatch
):
    monkeypatch.setenv("CONNECTION_WAIT_SECONDS", "0")
    (fake_aws / "handshake-polls").write_text("99")
    stopped = run(*one_command("--token-stdin"), stdin=TOKEN + "\n")
    assert stopped.returncode != 0
    assert "still PENDING" in stopped.stderr
    assert "run the same command again" in stopped.stderr
    assert "codesuite/settings/connections?region=eu-west-1" in stopped.stderr
    assert "demo-pipeline" not in deployed(calls(fake_aws))

    (fake_aws / "handshake-polls").write_text("0")  # the handshake is done
    resumed = run(*one_command())

    assert resumed.returncode == 0, resumed.stderr
    assert deployed(calls(fake_aws))[-1] == "demo-pipeline"
    assert len((fake_aws / "connections").read_text().splitlines()) == 1


def test_a_given_connection_is_used_and_not_created(fake_aws):
    arn = "arn:aws:codestar-connections:eu-west-1:123456789012:connection/mine"
    (fake_aws / "connections").write_text(f"by-hand {arn} AVAILABLE None\n")
    result = run(*one_command("--token-stdin", "--connection-arn", arn), stdin=TOKEN + "\n")
    assert result.returncode == 0, result.stderr
    log = calls(fake_aws)
    assert not [c for c in log if "create-connection" in c and "--tags" in c]
    assert f"ConnectionArn={arn}" in log[first_index(log, "deploy", "demo-pipeline")]


def printed_aws_commands(text: str) -> list[str]:
    """Every `aws <service> <operation> ...` a script printed for the operator to run."""
    return re.findall(r"\baws [a-z0-9-]+ [a-z0-9-]+[^\n]*", text)


def test_every_aws_command_it_prints_carries_the_region(fake_aws):
    first = run(*one_command("--token-stdin", "--alarm-email", "a@b.c"), stdin=TOKEN + "\n")
    # A new token once the pipeline exists: the hint says what re-registers the webhook.
    second = run(*one_command("--token-stdin"), stdin=TOKEN + "\n")
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert "start-pipeline-execution" in second.stderr
    printed = printed_aws_commands(first.stderr + second.stderr)
    assert len(printed) >= 2
    for command in printed:
        assert "--region eu-west-1" in command, command


# --- Refusals: each before anything changes ---------------------------------------------


def changed_nothing(state: Path) -> bool:
    log = calls(state) if (state / "calls.jsonl").exists() else []
    writes = ("deploy", "create-bucket", "put-secret-value", "create-connection", "delete-stack")
    return not [c for c in log if c[1] in writes and "--generate-cli-skeleton" not in c]


def test_no_token_stored_and_no_terminal_stops_before_anything_changes(fake_aws):
    result = run(*one_command())
    assert result.returncode != 0
    assert "--token-stdin" in result.stderr
    assert changed_nothing(fake_aws)


def test_stdin_without_a_token_is_refused(fake_aws):
    result = run(*one_command("--token-stdin"), stdin="not a token\n")
    assert result.returncode != 0
    assert "stdin holds no bot token" in result.stderr
    assert changed_nothing(fake_aws)


def test_without_credentials_it_stops_with_the_fix(fake_aws):
    (fake_aws / "no-credentials").write_text("")
    result = run(*one_command("--token-stdin"), stdin=TOKEN + "\n")
    assert result.returncode != 0
    assert "no usable AWS credentials. fix: aws configure" in result.stderr
    assert changed_nothing(fake_aws)


def test_a_vcpu_quota_below_what_the_stacks_need_is_refused(fake_aws):
    """4 polybot t3.micro (2 vCPUs each) and 2 t3.medium workers (2 each): 12."""
    (fake_aws / "quota").write_text("8.0")
    result = run(*one_command("--token-stdin"), stdin=TOKEN + "\n")
    assert result.returncode != 0
    assert "need 12 vCPUs" in result.stderr and "quota is 8" in result.stderr
    assert "servicequotas/home/services/ec2/quotas/L-1216C47A" in result.stderr
    assert changed_nothing(fake_aws)


def test_the_region_is_printed_with_where_it_came_from(fake_aws, monkeypatch):
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    result = run_script("deploy.sh", "--prefix", "demo", unset={"PREFIX"})
    assert result.returncode == 0, result.stderr
    assert "region: ap-south-1 (from AWS_REGION)" in result.stderr
    assert set((fake_aws / "regions").read_text().split()) == {"ap-south-1"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--repository", "not-a-repo"], "--repository takes OWNER/REPO"),
        (["--token-stdin"], "--token-stdin goes with --repository"),
        (["--region", "Mars"], "--region must be a region name"),
    ],
)
def test_bad_arguments_are_refused_before_any_aws_call(fake_aws, args, message):
    result = run("--prefix", "demo", *args)
    assert result.returncode != 0
    assert message in result.stderr
    assert not (fake_aws / "calls.jsonl").exists()


# --- bash >= 4.4, checked before any bash-only syntax -------------------------------------


@pytest.mark.skipif(shutil.which("dash") is None, reason="needs dash (Debian's sh)")
@pytest.mark.parametrize(
    ("version", "shown"), [("", "not bash"), ("3.2.57(1)-release", "3.2.57(1)-release")]
)
def test_an_old_or_missing_bash_is_refused_with_the_fix(fake_aws, monkeypatch, version, shown):
    """macOS's bash is 3.2; no such bash can be installed here, so dash runs the script's
    first lines, which are POSIX, with that version in BASH_VERSION (which only bash sets)."""
    if version:
        monkeypatch.setenv("BASH_VERSION", version)
    else:
        monkeypatch.delenv("BASH_VERSION", raising=False)
    result = run_script("deploy.sh", "--prefix", "demo", unset=UNSET, interpreter="dash")
    assert result.returncode == 2
    assert f"needs bash 4.4 or newer, and this is {shown}" in result.stderr
    assert "brew install bash" in result.stderr and "CloudShell" in result.stderr
    assert not (fake_aws / "calls.jsonl").exists()


def test_the_running_bash_passes_the_check():
    assert os.environ.get("BASH_VERSION") is None  # pytest's environment is not bash's
    result = run_script("deploy.sh", "--help", unset=UNSET)
    assert result.returncode == 0, result.stderr
    assert "--repository OWNER/REPO" in result.stdout


# --- --delete ------------------------------------------------------------------------------


@pytest.mark.parametrize(("managed_by", "deleted"), [("deploy.sh", True), ("None", False)])
def test_delete_removes_everything_in_order_and_only_a_connection_it_created(
    fake_aws, managed_by, deleted
):
    run_first = run(*one_command("--token-stdin"), stdin=TOKEN + "\n")
    assert run_first.returncode == 0, run_first.stderr
    arn = (fake_aws / "connections").read_text().split()[1]
    (fake_aws / "connections").write_text(f"{CONNECTION_NAME} {arn} AVAILABLE {managed_by}\n")
    before = len(calls(fake_aws))

    result = run("--delete", "--prefix", "demo", "--region", "eu-west-1")

    assert result.returncode == 0, result.stderr
    log = calls(fake_aws)[before:]
    order = [
        c[c.index("--stack-name") + 1] for c in log if c[:2] == ["cloudformation", "delete-stack"]
    ]
    assert order == [
        "demo-pipeline",
        "demo-observability",
        "demo-app",
        "demo-data",
        "demo-network",
    ]
    deletes = [i for i, c in enumerate(log) if c[1] in ("delete-stack", "delete-connection")]
    bucket = first_index(log, "s3api", "delete-bucket", "demo-deploy-123456789012-eu-west-1")
    assert bucket > max(deletes)  # the deploy bucket goes last
    removed = [c for c in log if c[:2] == ["codestar-connections", "delete-connection"]]
    assert bool(removed) is deleted
    if deleted:
        pipeline = first_index(log, "delete-stack", "demo-pipeline")
        assert pipeline < first_index(log, "delete-connection")
        assert (fake_aws / "connections").read_text().strip() == ""
    else:
        assert "keeping the GitHub connection" in result.stderr
    assert set((fake_aws / "regions").read_text().split()) == {"eu-west-1"}
