"""/version: polybot's commit, and the worker build named by the last item /results answered
(kept in memory by the answering process)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from common.contracts import WorkerBuild
from polybot import replies
from polybot.app import create_app
from tests.polybot.conftest import message_update, post_update
from tests.polybot.test_results import ANNOTATED, fixture_item, post_results

POLYBOT_SHA = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"


@pytest.fixture
def client(settings, clients):
    return create_app(replace(settings, version=POLYBOT_SHA), clients).test_client()


def ask_version(client, bot, text: str = "/version") -> str:
    before = len(bot.sent("send_message"))
    response = post_update(client, message_update(9, 90, text=text))
    assert response.status_code == 200
    assert response.get_json()["outcome"] == "version"
    reply = bot.sent("send_message")[before:]
    assert len(reply) == 1
    return reply[0]["text"]


def answer(client, clients, aws, settings, name: str) -> dict:
    """The item of a contract fixture, answered through POST /results."""
    item = fixture_item(name)
    clients.table.put_item(Item=item)
    if item.get("predicted_key"):
        s3 = aws.client("s3")
        s3.put_object(Bucket=settings.images_bucket, Key=item["predicted_key"], Body=ANNOTATED)
    assert post_results(client, item["prediction_id"]).status_code == 200
    return item


def test_before_any_answer_the_worker_is_not_seen_yet(client, bot):
    assert ask_version(client, bot) == "polybot 1a2b3c4 · worker: not seen yet"


@pytest.mark.parametrize("name", ["item_done.json", "item_failed.json"])
def test_after_an_answer_the_workers_commit_model_and_backend(
    client, bot, clients, aws, settings, name
):
    item = answer(client, clients, aws, settings, name)

    text = ask_version(client, bot)

    assert text == f"polybot 1a2b3c4 · worker {item['version'][:7]} · yolov5n (onnx)"


def test_the_last_answered_item_wins_and_an_unstamped_one_changes_nothing(
    client, bot, clients, aws, settings
):
    item = {**fixture_item("item_failed.json"), "version": "f" * 40, "backend": "torch"}
    clients.table.put_item(Item=item)
    assert post_results(client, item["prediction_id"]).status_code == 200
    answer(client, clients, aws, settings, "item_failed_legacy.json")  # an older worker's

    assert ask_version(client, bot) == "polybot 1a2b3c4 · worker fffffff · yolov5n (torch)"


@pytest.mark.parametrize("text", ["/version", "/VERSION", "/version@polybot_bot", "/version x"])
def test_the_command_in_its_forms(client, bot, text):
    assert ask_version(client, bot, text).startswith("polybot 1a2b3c4 · ")


def test_an_unknown_version_shows_as_unknown(settings, clients, bot):
    client = create_app(settings, clients).test_client()  # no APP_VERSION: "unknown"

    assert ask_version(client, bot) == "polybot unknown · worker: not seen yet"
    build = WorkerBuild("yolov5n", "onnx", "unknown")
    assert replies.version("unknown", build) == "polybot unknown · worker unknown · yolov5n (onnx)"


def test_help_mentions_version():
    assert "/version" in replies.HELP


def test_short_commit_shortens_only_a_commit():
    assert replies.short_commit("0123456789abcdef0123456789abcdef01234567") == "0123456"
    assert replies.short_commit("unknown") == "unknown"
    assert replies.short_commit("v1.2.3-dirty") == "v1.2.3-dirty"
