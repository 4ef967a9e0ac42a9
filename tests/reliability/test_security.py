"""Security checks: the webhook's secret token, secrets in logs, /results' chat, bandit, images,
and no key material in what gets built or deployed."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from common.contracts import original_key
from local.config import ROOT
from polybot import replies
from polybot.clients import derive_webhook_secret
from polybot.intake import prediction_id_for
from tests.reliability.support.updates import bot_token, update, upload_photo, user_message
from tests.support.images import sample_image

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
BIN = Path(sys.executable).parent


HEADER_CASES = ["missing", "empty", "wrong", "bot-token-itself", "truncated", "one-char-more"]


@pytest.mark.slow
@pytest.mark.parametrize("header", HEADER_CASES)
def test_webhook_without_the_right_secret_is_refused_with_no_side_effect(
    shared_stack, observe, header
):
    stack, chat, message_id = shared_stack, 91001 + HEADER_CASES.index(header), 1
    token = bot_token(stack.cfg)
    secret = derive_webhook_secret(token)
    value = {
        "missing": None,
        "empty": "",
        "wrong": "wrong",
        "bot-token-itself": token,
        "truncated": secret[:-1],
        "one-char-more": secret + "0",
    }[header]
    sizes = upload_photo(stack.cfg, token, sample_image("bus.jpg").read_bytes())
    raw = update(
        int(time.time() * 1000) % 2**31, message=user_message(chat, message_id, photo=sizes)
    )
    headers = {} if value is None else {SECRET_HEADER: value}
    response = requests.post(
        f"{stack.cfg.polybot_url}/telegram/webhook", json=raw, headers=headers, timeout=30
    )
    assert response.status_code == 403
    assert token not in response.text and secret not in response.text
    time.sleep(2)
    outputs = stack.outputs()
    pid = prediction_id_for(chat, message_id)
    listed = stack.client("s3").list_objects_v2(
        Bucket=outputs["IMAGES_BUCKET"], Prefix=f"originals/{chat}/"
    )
    item = stack.table().get_item(Key={"prediction_id": pid})
    assert listed.get("KeyCount", 0) == 0
    assert "Item" not in item
    # No job either: a job would have been answered (and acknowledged) in this chat.
    assert stack.messages(chat) == []
    observe(
        f"security: webhook secret {header or 'missing'}",
        http=response.status_code,
        s3_objects=0,
        item=False,
        messages=0,
    )


@pytest.mark.slow
def test_results_answers_only_the_chat_in_the_item(shared_stack, observe):
    stack, owner, intruder = shared_stack, 92001, 92002
    pid = str(uuid.uuid4())
    stack.table().put_item(
        Item={
            "prediction_id": pid,
            "chat_id": owner,
            "status": "DONE",
            "original_key": original_key(owner, pid),
            "counts": {"dog": Decimal(1)},
        }
    )
    response = requests.post(
        f"{stack.cfg.polybot_url}/results",
        params={"predictionId": pid, "chat_id": intruder, "chatId": intruder},
        json={"chat_id": intruder, "prediction_id": pid},
        timeout=30,
    )
    assert response.status_code == 200
    messages = stack.wait_for(owner, lambda ms: len(ms) >= 1)
    time.sleep(2)
    assert len(stack.messages(owner)) == 1
    assert messages[0]["text"] == replies.caption({"dog": 1})  # the item's counts
    assert stack.messages(intruder) == []
    observe("security: /results redirect attempt", owner_messages=1, intruder_messages=0)


@pytest.mark.slow
def test_bot_token_never_appears_in_any_process_output(shared_stack, observe):
    """A full photo round trip, then every line every process of the stack wrote is searched."""
    stack, chat = shared_stack, 92003
    assert stack.send_photo(chat, sample_image("bus.jpg").read_bytes())["webhook_status"] == 200
    stack.wait_for_photo(chat, timeout=240)
    token = bot_token(stack.cfg)
    log = stack.log()
    assert log.count("\n") > 50, "expected the stack's logs to be captured"
    for name, needle in (
        ("token", token),
        ("token secret part", token.split(":", 1)[1]),
        ("webhook secret", derive_webhook_secret(token)),
    ):
        assert needle not in log, f"the {name} appears in the stack's output"
    observe("security: token in logs", log_lines=log.count("\n"), token_found=False)


def test_bandit_finds_no_medium_or_high_issue(observe):
    result = subprocess.run(
        [str(BIN / "bandit"), "-q", "-ll", "-r", "polybot", "yolo5", "common"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Issue:" not in result.stdout, result.stdout
    observe("security: bandit -ll", returncode=result.returncode, issues=0)


DOCKERFILES = sorted(p for p in ROOT.glob("*/Dockerfile") if p.is_file())


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_container_runs_as_a_non_root_user(dockerfile, observe):
    user = None
    for line in dockerfile.read_text().splitlines():
        words = line.strip().split(maxsplit=1)
        if not words:
            continue
        instruction = words[0].upper()
        if instruction == "FROM":
            user = None  # every stage starts as root again
        elif instruction == "USER":
            user = words[1].split(":")[0].strip()
        elif instruction in ("CMD", "ENTRYPOINT"):
            assert user not in (None, "root", "0"), f"{dockerfile}: {instruction} runs as root"
    assert user not in (None, "root", "0")
    observe(f"security: {dockerfile.parent.name} image user", user=user)


def test_there_are_dockerfiles_to_check():
    assert {p.parent.name for p in DOCKERFILES} >= {"polybot", "yolo5"}


SECRET_PATTERNS = {
    "AWS access key id": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret key assignment": re.compile(
        r"(?i)aws_?secret_?access_?key\s*[:=]\s*['\"]?[A-Za-z0-9/+=]{40}"
    ),
    "private key": re.compile(r"-----BEGIN (RSA |EC |OPENSSH |DSA |ENCRYPTED )?PRIVATE KEY-----"),
    "Telegram bot token": re.compile(r"\b\d{8,10}:[A-Za-z0-9_-]{35}\b"),
    "password literal": re.compile(r"(?i)\bpassword\s*[:=]\s*['\"]?[^\s'\"$!{][^\s'\"]{3,}"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b"),
}
BUILD_AND_DEPLOY_FILES = sorted(
    {
        *ROOT.glob("*/Dockerfile*"),
        *ROOT.glob("buildspecs/*.yml"),
        *ROOT.glob("cloudformation/*.yaml"),
        *ROOT.glob("cloudformation/*.sh"),
        *ROOT.glob("appspecs/**/*.yml"),
        *ROOT.glob("appspecs/**/*.sh"),
    }
)


@pytest.mark.parametrize("path", BUILD_AND_DEPLOY_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_secret_material_in_build_and_deploy_files(path):
    text = path.read_text(errors="replace")
    found = [name for name, pattern in SECRET_PATTERNS.items() if pattern.search(text)]
    assert found == [], f"{path.relative_to(ROOT)}: {found}"


def test_the_secret_scanner_can_fail():
    """Each pattern catches what it is meant to catch (built here so no file holds them)."""
    samples = {
        "AWS access key id": "AKIA" + "ABCDEFGHIJKLMNOP",
        "AWS secret key assignment": "aws_secret_access_key = " + "a" * 40,
        "private key": "-----BEGIN " + "RSA PRIVATE KEY-----",
        "Telegram bot token": "123456789:" + "A" * 35,
        "password literal": "Password: " + "hunter22",
        "GitHub token": "ghp_" + "a" * 36,
    }
    for name, sample in samples.items():
        assert SECRET_PATTERNS[name].search(sample), name
    assert len(BUILD_AND_DEPLOY_FILES) >= 10
