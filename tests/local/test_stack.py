"""End to end: the Procfile stack as real processes on real ports, driven like a user would."""

from __future__ import annotations

import socket

import pytest

from local.harness import local_stack
from polybot import replies
from tests.support.answers import chat_predictions
from tests.support.images import real_weights, sample_image

pytestmark = pytest.mark.slow


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stack")
    with local_stack(tmp, weights=real_weights()) as running:
        yield running
    # After shutdown: no process of the stack left behind, every port free again.
    assert running.process.returncode == 0, running.log()[-3000:]
    assert running.alive_pids() == [], running.log()[-3000:]
    assert not any(port_open(p) for p in running.cfg.ports().values())


def test_chat_page_is_served(stack):
    import requests

    page = requests.get(stack.emulator + "/", timeout=10)
    assert page.status_code == 200
    assert "photo-input" in page.text


@pytest.mark.parametrize(
    "image, chat_id, expected",
    [
        ("bus.jpg", 2001, {"person": 4, "bus": 1}),
        ("zidane.jpg", 2002, {"person": 2, "tie": 1}),
    ],
)
def test_photo_gets_annotated_reply_with_counts(stack, image, chat_id, expected):
    delivered = stack.send_photo(chat_id, sample_image(image).read_bytes())
    assert delivered["webhook_status"] == 200
    photo = stack.wait_for_photo(chat_id)
    [prediction] = chat_predictions(stack.table(), chat_id)
    assert expected.items() <= prediction.counts.items(), prediction.counts
    assert photo["caption"] == replies.caption(prediction.counts)
    messages = stack.messages(chat_id)
    # First the acknowledgement, then exactly one annotated answer.
    assert (messages[0]["method"], messages[0]["text"]) == ("sendMessage", replies.RECEIVED)
    assert [m["method"] for m in messages].count("sendPhoto") == 1


def test_text_message_gets_help(stack):
    stack.send_text(2003, "hello there")
    messages = stack.wait_for(2003, lambda ms: len(ms) >= 1)
    assert messages[0]["method"] == "sendMessage"
    assert messages[0]["text"] == replies.HELP


def test_non_image_document_gets_a_clear_reply(stack):
    stack.send_document(2004, b"%PDF-1.4 not an image", "report.pdf")
    messages = stack.wait_for(2004, lambda ms: len(ms) >= 1)
    assert messages[0]["method"] == "sendMessage"
    assert messages[0]["text"] == replies.NOT_AN_IMAGE
    assert all(m["method"] != "sendPhoto" for m in stack.messages(2004))
