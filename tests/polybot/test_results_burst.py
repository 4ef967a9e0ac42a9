"""A burst of results for one chat, like an album, while Telegram answers 429 (the emulator's
simulation, retry_after 1-2 s): every photo is answered exactly once, and no /results request
takes longer than polybot's retry budget, which the worker waits out.

polybot is served over real HTTP and talks to the emulator through its own TelegramClient and
the unmodified pyTelegramBotAPI; the worker's side is yolo5's own ResultsNotifier, called
again (as a redelivered job would) while it reports polybot unavailable. AWS is moto
in-process, one call at a time (tests/polybot/conftest.py's Atomic).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from common.contracts import RESULTS_BUDGET_SECONDS, original_key, predicted_key
from polybot import replies
from polybot.app import create_app
from polybot.telegram import TelegramClient, new_bot
from tests.polybot.conftest import Atomic
from tests.support.emulator import running_emulator, telebot_pointed_at
from tests.support.images import sample_image
from tests.support.servers import serve_wsgi
from yolo5.notifier import Notified, ResultsNotifier

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "contracts"
CHAT = 6001
ALBUM = 8
REDELIVERIES = 5


class Timed:
    """WSGI middleware: how long each /results request took, and its status."""

    def __init__(self, app) -> None:
        self.app, self.calls, self._lock = app, [], threading.Lock()

    def __call__(self, environ, start_response):
        started, status = time.monotonic(), []

        def recording(code, headers, *rest):
            status.append(int(code.split()[0]))
            return start_response(code, headers, *rest)

        try:
            return list(self.app(environ, recording))
        finally:
            if environ["PATH_INFO"] == "/results":
                with self._lock:
                    self.calls.append((time.monotonic() - started, status[0] if status else 0))


@pytest.fixture
def album(clients, aws, settings):
    """ALBUM finished items for one chat, each with its own count so its caption names it."""
    with open(FIXTURES / "item_done.json") as handle:
        template = json.load(handle, parse_float=Decimal)
    image = sample_image("zidane.jpg").read_bytes()
    ids = []
    for n in range(1, ALBUM + 1):
        pid = str(uuid.uuid4())
        item = {
            **template,
            "prediction_id": pid,
            "chat_id": CHAT,
            "message_id": n,
            "original_key": original_key(CHAT, pid),
            "predicted_key": predicted_key(pid),
            "counts": {"person": n},
        }
        clients.table.put_item(Item=item)
        aws.client("s3").put_object(
            Bucket=settings.images_bucket, Key=item["predicted_key"], Body=image
        )
        ids.append(pid)
    return ids


def test_an_album_under_429s_is_answered_exactly_once_within_the_budget(
    settings, clients, album, caplog
):
    caplog.set_level(logging.WARNING, logger="polybot.telegram")
    lock = threading.Lock()
    with running_emulator() as emulator, telebot_pointed_at(emulator):
        # polybot's own client and retry policy (real sleeps), pointed at the emulator.
        telegram = TelegramClient(new_bot(emulator.token))
        atomic = replace(
            clients,
            s3=Atomic(clients.s3, lock),
            table=Atomic(clients.table, lock),
            telegram=telegram,
        )
        app = Timed(create_app(settings, atomic))
        emulator.fault("sendPhoto", 429, count=2 * ALBUM, retry_after=1)
        emulator.fault("sendPhoto", 429, count=ALBUM, retry_after=2)
        with serve_wsgi(app) as url:
            notifier = ResultsNotifier(f"{url}/results")

            def worker(pid: str) -> int:
                """Notify; a job whose results call stayed unavailable comes back (redelivery)."""
                for delivery in range(1, REDELIVERIES + 1):
                    if notifier.notify(pid) == Notified.SENT:
                        return delivery
                return 0

            with ThreadPoolExecutor(ALBUM) as pool:
                deliveries = list(pool.map(worker, album))
        messages = emulator.messages(CHAT)

    assert all(deliveries), deliveries
    photos = [m for m in messages if m["method"] == "sendPhoto"]
    expected = sorted(replies.caption({"person": n}) for n in range(1, ALBUM + 1))
    assert sorted(m["caption"] for m in photos) == expected
    assert [m for m in messages if m["method"] != "sendPhoto"] == []
    for pid in album:
        assert clients.table.get_item(Key={"prediction_id": pid})["Item"].get("notified_at")
    # Every simulated 429 was met: retried after its retry_after, or, on the last attempt,
    # answered 503 for the worker to call again.
    retries = sum(getattr(r, "event", None) == "telegram.retry" for r in caplog.records)
    unavailable = sum(status == 503 for _, status in app.calls)
    assert retries + unavailable == 3 * ALBUM, (retries, unavailable, app.calls)
    longest = max(seconds for seconds, _ in app.calls)
    assert longest <= RESULTS_BUDGET_SECONDS, app.calls
    assert longest < notifier.timeout
