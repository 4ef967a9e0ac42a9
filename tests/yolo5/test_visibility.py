"""Visibility is extended while a job is tracked, and released on demand."""

from __future__ import annotations

import time

from yolo5.queue import JobsQueue, Message
from yolo5.visibility import VisibilityKeeper


class RecordingQueue(JobsQueue):
    def __init__(self):
        self.url = "q"
        self.calls: list[tuple[str, int]] = []

    def set_visibility(self, message: Message, seconds: int) -> bool:
        self.calls.append((message.message_id, seconds))
        return True


def test_tracked_messages_are_extended_until_finished():
    queue = RecordingQueue()
    keeper = VisibilityKeeper(queue, 10)
    keeper._interval = 0.05  # the production interval is a third of the visibility timeout
    message = Message("m1", "h1", "{}", 1)
    keeper.track(message)
    keeper.start()
    try:
        deadline = time.monotonic() + 5
        while len(queue.calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        keeper.finish(message, delete=False)
        seen = len(queue.calls)
        time.sleep(0.2)
    finally:
        keeper.stop()
    assert seen >= 2
    assert set(queue.calls) == {("m1", 10)}
    assert len(queue.calls) <= seen + 1  # at most one extension was already under way


def test_release_all_gives_everything_back():
    queue = RecordingQueue()
    keeper = VisibilityKeeper(queue, 30)
    for i in range(3):
        keeper.track(Message(f"m{i}", f"h{i}", "{}", 1))
    assert keeper.release_all() == 3
    assert sorted(queue.calls) == [("m0", 0), ("m1", 0), ("m2", 0)]
    assert keeper.release_all() == 0
