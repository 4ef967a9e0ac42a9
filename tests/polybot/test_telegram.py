"""The Telegram client wrapper: retry policy and token-free errors."""

from __future__ import annotations

import logging
import traceback

import pytest
import requests

from polybot.telegram import (
    DOCUMENT_MAX_BYTES,
    PHOTO_MAX_BYTES,
    TelegramBlocked,
    TelegramClient,
    TelegramFileTooBig,
    TelegramPhotoRejected,
    TelegramRejected,
    TelegramUnavailable,
)
from tests.polybot.fakes import TOKEN, FakeBot, api_error, connection_error


@pytest.fixture
def bot():
    return FakeBot()


def make(bot, sleeps, **kwargs):
    return TelegramClient(bot, sleep=sleeps.append, **kwargs)


def test_429_waits_exactly_retry_after(bot):
    sleeps = []
    bot.fail("send_message", api_error(429, "Too Many Requests: retry after 3", retry_after=3))
    make(bot, sleeps).send_message(1, "hi")
    assert sleeps == [3.0]
    assert len(bot.sent("send_message")) == 1


def test_429_beyond_the_wait_budget_gives_up_without_sleeping(bot):
    sleeps = []
    bot.fail("send_message", api_error(429, "Too Many Requests", retry_after=120))
    with pytest.raises(TelegramUnavailable):
        make(bot, sleeps, max_wait=30).send_message(1, "hi")
    assert sleeps == []


def test_5xx_is_retried_with_capped_growing_backoff(bot):
    sleeps = []
    bot.fail("send_photo", api_error(502, "Bad Gateway"), api_error(500, "Internal"))
    make(bot, sleeps, base_delay=1.0, max_delay=8.0).send_photo(1, b"x", "cap")
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0
    assert len(bot.sent("send_photo")) == 1


def test_persistent_5xx_gives_up_after_the_attempts(bot):
    sleeps = []
    bot.fail("send_message", *[api_error(500, "Internal")] * 10)
    with pytest.raises(TelegramUnavailable):
        make(bot, sleeps, attempts=3).send_message(1, "hi")
    assert len(sleeps) == 2


def test_403_is_not_retried(bot):
    sleeps = []
    bot.fail("send_message", api_error(403, "Forbidden: bot was blocked by the user"))
    with pytest.raises(TelegramBlocked):
        make(bot, sleeps).send_message(1, "hi")
    assert sleeps == []


def test_400_is_not_retried(bot):
    sleeps = []
    bot.fail("send_message", api_error(400, "Bad Request: chat not found"))
    with pytest.raises(TelegramRejected) as info:
        make(bot, sleeps).send_message(1, "hi")
    assert "chat not found" in str(info.value)
    assert sleeps == []


def test_connection_errors_are_retried_and_never_leak_the_token(bot, caplog):
    sleeps = []
    bot.fail("send_message", *[connection_error()] * 5)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(TelegramUnavailable) as info:
        make(bot, sleeps).send_message(1, "hi")
    assert len(sleeps) == 3
    rendered = "".join(traceback.format_exception(info.value))
    assert TOKEN not in rendered
    assert TOKEN.split(":")[1] not in rendered
    assert TOKEN not in caplog.text


def test_timeouts_are_connection_errors_too(bot):
    sleeps = []
    bot.fail("get_file", requests.ReadTimeout(f"read timed out: /bot{TOKEN}/getFile"))
    bot.add_file("f", b"data")
    assert make(bot, sleeps).get_file("f") == ("photos/f.jpg", 4)
    assert len(sleeps) == 1


def test_a_photo_over_10_mb_is_refused_before_any_upload(bot):
    sleeps = []
    with pytest.raises(TelegramPhotoRejected) as info:
        make(bot, sleeps).send_photo(1, b"\xff" * (PHOTO_MAX_BYTES + 1), "cap")
    assert isinstance(info.value, TelegramRejected)
    assert bot.calls == [] and sleeps == []
    make(bot, sleeps).send_photo(1, b"\xff" * PHOTO_MAX_BYTES, "cap")  # exactly 10 MB goes
    assert len(bot.sent("send_photo")) == 1


@pytest.mark.parametrize("status", [400, 413])
def test_a_refused_photo_is_a_typed_permanent_outcome(bot, status):
    sleeps = []
    bot.fail("send_photo", api_error(status, "Bad Request: PHOTO_INVALID_DIMENSIONS"))
    with pytest.raises(TelegramPhotoRejected) as info:
        make(bot, sleeps).send_photo(1, b"x", "cap")
    assert info.value.status == status and info.value.method == "sendPhoto"
    assert sleeps == []


def test_other_send_photo_failures_keep_their_own_type(bot):
    sleeps = []
    bot.fail("send_photo", api_error(403, "Forbidden: bot was blocked by the user"))
    with pytest.raises(TelegramBlocked):
        make(bot, sleeps).send_photo(1, b"x", "cap")
    bot.fail("send_photo", api_error(404, "Not Found"))
    with pytest.raises(TelegramRejected) as info:
        make(bot, sleeps).send_photo(1, b"x", "cap")
    assert not isinstance(info.value, TelegramPhotoRejected)


def test_a_file_too_big_to_download_is_a_typed_outcome(bot):
    sleeps = []
    bot.fail("get_file", api_error(400, "Bad Request: file is too big"))
    with pytest.raises(TelegramFileTooBig) as info:
        make(bot, sleeps).get_file("big")
    assert isinstance(info.value, TelegramRejected)
    assert info.value.method == "getFile" and sleeps == []


def test_other_get_file_refusals_are_not_too_big(bot):
    with pytest.raises(TelegramRejected) as info:
        make(bot, []).get_file("unknown")  # the fake answers 400 "invalid file_id"
    assert not isinstance(info.value, TelegramFileTooBig)


def test_send_document_names_the_file_and_keeps_the_caption(bot):
    make(bot, []).send_document(7, b"jpeg", "p.jpg", "dog: 2", reply_to=3)
    [sent] = bot.sent("send_document")
    assert (sent["chat_id"], sent["document"], sent["filename"]) == (7, b"jpeg", "p.jpg")
    assert sent["caption"] == "dog: 2" and sent["reply"].message_id == 3


def test_a_document_over_50_mb_is_refused_before_any_upload(bot):
    with pytest.raises(TelegramRejected):
        make(bot, []).send_document(7, b"\0" * (DOCUMENT_MAX_BYTES + 1), "p.jpg", "cap")
    assert bot.calls == []


def test_the_retry_budget_counts_the_calls_own_time_not_only_the_sleeps(bot):
    """Slow failing calls use the budget up too: no retry starts after max_wait."""
    sleeps, now = [], [0.0]

    def slow_failure(*_args, **_kwargs):
        now[0] += 12.0  # each attempt takes 12 s before Telegram answers 429
        raise api_error(429, "Too Many Requests: retry after 1", retry_after=1)

    bot.send_message = slow_failure
    client = TelegramClient(
        bot, max_wait=30, attempts=10, sleep=sleeps.append, clock=lambda: now[0]
    )
    with pytest.raises(TelegramUnavailable, match="retry budget spent"):
        client.send_message(1, "hi")
    assert sleeps == [1.0, 1.0]  # after the third 12 s attempt, 36 s are spent: no more


def test_the_default_budget_is_the_results_contracts():
    from common.contracts import RESULTS_BUDGET_SECONDS

    assert TelegramClient(FakeBot()).max_wait == RESULTS_BUDGET_SECONDS
