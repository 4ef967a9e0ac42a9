"""Load: 30 photos/s for 60 s from 30 chats into the local stack (make up's Procfile, 2 workers).

Every photo must be answered exactly once, no webhook call may fail with a 5xx, and the
dead-letter queue must stay empty. Rate and duration can be lowered for a quick local look
(RELIABILITY_LOAD_RATE, RELIABILITY_LOAD_SECONDS); CI runs the issue's numbers.
"""

from __future__ import annotations

import io
import os
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from PIL import Image

from local.harness import local_stack
from tests.support.images import real_weights, sample_image

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

RATE = int(os.environ.get("RELIABILITY_LOAD_RATE", "30"))
SECONDS = int(os.environ.get("RELIABILITY_LOAD_SECONDS", "60"))
CHATS = 30
FIRST_CHAT = 95001
ANSWER_TIMEOUT = 1200
SENDERS = 256
DEPTH = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
EMPTY = dict.fromkeys(DEPTH, "0")


def small_bus() -> bytes:
    """bus.jpg at 320 px: the photo-sized work is the same for polybot, the model is cheaper."""
    image = Image.open(sample_image("bus.jpg")).convert("RGB")
    image.thumbnail((320, 320))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def replied(messages: list[dict], method: str) -> list[int]:
    """The user message ids this chat's `method` calls reply to, sorted (repeats kept)."""
    return sorted(m["reply_to_message_id"] for m in messages if m["method"] == method)


def test_30_photos_per_second_for_60_seconds(tmp_path, observe):
    photo = small_bus()
    total = RATE * SECONDS
    statuses: Counter = Counter()
    sent: dict[int, list[int]] = defaultdict(list)  # chat -> the user's photo message ids
    lock = threading.Lock()
    with local_stack(
        tmp_path,
        workers=2,
        weights=real_weights(),
        WORKER_BATCH_SIZE="10",
        YOLO_IMG_SIZE="320",
        YOLO_THREADS="1",
    ) as stack:
        session = requests.Session()
        session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=SENDERS))

        def send(i: int) -> None:
            chat = FIRST_CHAT + i % CHATS
            try:
                answer = stack.send_photo(chat, photo, http=session)
                status = answer["webhook_status"]
            except (requests.RequestException, ValueError, KeyError) as exc:
                status, answer = type(exc).__name__, {}
            with lock:
                statuses[str(status)] += 1
                if "message_id" in answer:
                    sent[chat].append(answer["message_id"])

        started = time.monotonic()
        # Enough senders that a slow webhook cannot throttle the offered rate: like Telegram,
        # the emulator queues updates beyond max_connections rather than sending fewer.
        with ThreadPoolExecutor(SENDERS) as pool:
            for i in range(total):
                # Open loop: photos go out on schedule whether or not earlier ones are done.
                time.sleep(max(0.0, started + i / RATE - time.monotonic()))
                pool.submit(send, i)
            scheduled_s = time.monotonic() - started
        sent_s = time.monotonic() - started

        def answered() -> dict[int, list[dict]]:
            return {c: stack.messages(c) for c in range(FIRST_CHAT, FIRST_CHAT + CHATS)}

        per_chat = SECONDS * RATE // CHATS
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while time.monotonic() < deadline:
            chats = answered()
            done = sum(sum(m["method"] == "sendPhoto" for m in ms) for ms in chats.values())
            if done >= total:
                break
            time.sleep(2)
        all_answered_s = time.monotonic() - started
        sqs = stack.client("sqs")
        jobs_url = stack.outputs()["JOBS_QUEUE_URL"]
        dlq_url = sqs.get_queue_url(QueueName=jobs_url.rsplit("/", 1)[1] + "-dlq")["QueueUrl"]

        def depth(url: str) -> dict[str, str]:
            return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=DEPTH)["Attributes"]

        # A job is deleted only after its answer went out: with the jobs queue empty, no
        # duplicate answer can still be on its way, so the count below is final.
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while depth(jobs_url) != EMPTY and time.monotonic() < deadline:
            time.sleep(2)
        jobs = depth(jobs_url)
        dlq = depth(dlq_url)
        chats = answered()
        deliveries = stack.emulator_client().deliveries()
        # Per photo, not per chat: the sorted message ids each kind of reply answers must be
        # exactly the photos sent (a duplicate and a loss in one chat can't cancel out).
        expected = {c: sorted(ids) for c, ids in sent.items()}
        answers = {c: replied(ms, "sendPhoto") for c, ms in chats.items()}
        acks = {c: replied(ms, "sendMessage") for c, ms in chats.items()}
        photos_per_chat = {c: len(ids) for c, ids in answers.items()}
        acks_per_chat = {c: len(ids) for c, ids in acks.items()}
        observe(
            "load 30/s x 60 s, 30 chats",
            photos_sent=total,
            scheduled_in_s=round(scheduled_s, 1),
            all_webhook_calls_returned_in_s=round(sent_s, 1),
            all_answered_after_s=round(all_answered_s, 1),
            webhook_statuses=dict(statuses),
            emulator_by_status=deliveries["by_status"],
            answers_per_chat=sorted(set(photos_per_chat.values())),
            acks_per_chat=sorted(set(acks_per_chat.values())),
            jobs_queue=jobs,
            dlq=dlq,
        )
    assert dict(statuses) == {"200": total}, statuses
    assert set(deliveries["by_status"]) == {"200"}, deliveries["by_status"]
    assert sum(map(len, expected.values())) == total, statuses
    assert answers == expected, {c: Counter(ids) for c, ids in answers.items()}
    assert acks == expected, {c: Counter(ids) for c, ids in acks.items()}
    assert set(photos_per_chat.values()) == {per_chat}, photos_per_chat
    assert jobs == EMPTY, jobs
    assert dlq == EMPTY, dlq
