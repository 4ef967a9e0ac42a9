"""Figure 4 — end-to-end overhead at light load: one photo every 2 s through the whole stack.

Per photo: time from the emulator's webhook delivery to the annotated reply showing up in
the chat (polled every 20 ms, so up to 20 ms of it is polling), minus the model's own
inference time for that photo (the item's inference_ms, measured by the worker around the
model call). What remains is everything we add: webhook, S3, DynamoDB, SQS, the worker's
receive, decode, annotation, upload, /results and sendPhoto.
"""

from __future__ import annotations

import time

import requests

from bench.stats import Summary

GOAL_MS = 100.0
POLL = 0.02


def run(stack, photos: list[bytes], count: int, period: float = 2.0) -> dict:
    http = requests.Session()
    base = int(time.time()) * 10_000 + 5_000
    e2e: dict[int, float] = {}
    started = time.perf_counter()
    for index in range(count):
        chat = base + index
        t0 = time.perf_counter()
        stack.send_photo(chat, photos[index % len(photos)], http=http)
        deadline = t0 + 120
        while time.perf_counter() < deadline:
            if any(m["method"] == "sendPhoto" for m in stack.messages(chat, http=http)):
                e2e[chat] = (time.perf_counter() - t0) * 1000
                break
            time.sleep(POLL)
        pause = started + (index + 1) * period - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
    inference = _inference_ms(stack, set(e2e))
    paired = [c for c in e2e if c in inference]
    overhead = Summary.of(e2e[c] - inference[c] for c in paired)
    print(f"  fig4: {len(e2e)}/{count} answered, median overhead {overhead.median:.0f} ms")
    return {
        "count": count,
        "answered": len(e2e),
        "e2e": Summary.of(e2e[c] for c in paired),
        "inference": Summary.of(inference[c] for c in paired),
        "overhead": overhead,
        "ok": len(e2e) == count and overhead.median <= GOAL_MS,
    }


def _inference_ms(stack, chats: set[int]) -> dict[int, float]:
    found, kwargs = {}, {}
    table = stack.table()
    while True:
        page = table.scan(**kwargs)
        for item in page["Items"]:
            chat = int(item.get("chat_id", -1))
            if chat in chats and "inference_ms" in item:
                found[chat] = float(item["inference_ms"])
        if "LastEvaluatedKey" not in page:
            return found
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
