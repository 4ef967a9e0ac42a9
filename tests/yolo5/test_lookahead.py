"""The lookahead alone: a moto queue, a real keeper and pool, and a prepare() that records."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from yolo5.lookahead import Lookahead
from yolo5.processing import Prepared
from yolo5.queue import JobsQueue, Message
from yolo5.visibility import VisibilityKeeper


class RecordingPrepare:
    """prepare() that notes how many run at once; `gate` holds the jobs named in `hold` until
    a test lets go."""

    def __init__(self, hold: tuple[str, ...] = ()) -> None:
        self.hold = hold
        self.lock = threading.Lock()
        self.running = 0
        self.most_at_once = 0
        self.bodies: list[str] = []
        self.gate = threading.Event()

    def __call__(self, message: Message) -> Prepared:
        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.bodies.append(message.body)
        if message.body in self.hold:
            self.gate.wait(timeout=10)
        with self.lock:
            self.running -= 1
        return Prepared(message)


@pytest.fixture
def queue(aws) -> JobsQueue:
    return JobsQueue(aws.sqs, aws.queue_url)


@pytest.fixture
def keeper(queue) -> VisibilityKeeper:
    return VisibilityKeeper(queue, 30)  # not started: tracking is what is under test


@pytest.fixture
def pool():
    with ThreadPoolExecutor(4) as pool:
        yield pool


def lookahead(queue, keeper, prepare, pool, batch_size=10, depth=2) -> Lookahead:
    return Lookahead(
        queue=queue, keeper=keeper, prepare=prepare, pool=pool, batch_size=batch_size, depth=depth
    )


def send(aws, *bodies: str) -> None:
    for body in bodies:
        aws.send(body)


def bodies_of(taken: list[Prepared | None]) -> list[str]:
    return [p.message.body for p in taken if p is not None]


def test_jobs_come_out_in_receive_order_then_none_when_dry(aws, queue, keeper, pool):
    send(aws, "a", "b", "c", "d", "e")
    ahead = lookahead(queue, keeper, RecordingPrepare(), pool, batch_size=1)
    ahead.add(queue.receive(1, 0))
    taken = [ahead.take() for _ in range(6)]
    assert bodies_of(taken) == ["a", "b", "c", "d", "e"]  # moto keeps FIFO order here
    assert taken[-1] is None
    assert keeper.release_all() == 5  # handed over, so still tracked until their job ends


def test_jobs_from_a_short_poll_are_prepared_side_by_side(aws, queue, keeper, pool):
    send(aws, "first", "second", "third")
    prepare = RecordingPrepare(hold=("second", "third"))
    ahead = lookahead(queue, keeper, prepare, pool, batch_size=10, depth=2)
    ahead.add(queue.receive(1, 0))
    first = ahead.take()  # the model's turn: a short poll goes out for the next two
    # They are prepared while the model works (no take() meanwhile), side by side.
    pause = threading.Event()
    for _ in range(100):
        if prepare.running == 2:
            break
        pause.wait(0.05)
    prepare.gate.set()
    assert first.message.body == "first"
    assert prepare.most_at_once == 2
    assert bodies_of([ahead.take(), ahead.take()]) == ["second", "third"]


def test_no_more_than_depth_jobs_are_prepared_at_once(aws, queue, keeper, pool):
    send(aws, *[f"job-{n}" for n in range(8)])
    prepare = RecordingPrepare()
    ahead = lookahead(queue, keeper, prepare, pool, batch_size=10, depth=2)
    ahead.add(queue.receive(10, 0))
    taken = [ahead.take() for _ in range(9)]
    assert len(bodies_of(taken)) == 8
    assert prepare.most_at_once <= 2


def test_release_gives_back_what_waits_and_what_is_prepared(aws, queue, keeper, pool):
    send(aws, *[f"job-{n}" for n in range(5)])
    ahead = lookahead(queue, keeper, RecordingPrepare(), pool, batch_size=10, depth=2)
    ahead.add(queue.receive(4, 0))
    on_the_model = ahead.take()  # two slots refilled, one still waiting: no room for a poll
    assert on_the_model is not None

    assert ahead.release() == 3
    assert len(queue.receive(10, 0)) == 4  # the three, visible now, and the one never taken
    assert keeper.release_all() == 1  # only the job on the model is still held


def test_release_waits_for_a_short_poll_and_gives_back_what_it_brought(aws, queue, keeper, pool):
    send(aws, *[f"job-{n}" for n in range(6)])
    ahead = lookahead(queue, keeper, RecordingPrepare(), pool, batch_size=10, depth=3)
    ahead.add(queue.receive(2, 0))
    assert ahead.take() is not None  # one slot left, so a poll goes out for two more

    assert ahead.release() == 3
    assert len(queue.receive(10, 0)) == 5  # the three and the two never received
    assert keeper.release_all() == 1


def test_after_stop_nothing_new_is_polled_or_prepared(aws, queue, keeper, pool):
    send(aws, "a", "b", "c")
    prepare = RecordingPrepare()
    ahead = lookahead(queue, keeper, prepare, pool, batch_size=1, depth=2)
    ahead.add(queue.receive(1, 0))
    ahead.stop()
    ahead.add(queue.receive(1, 0))  # arrived as the signal landed: kept, not prepared
    assert ahead.take() is not None  # the one already being prepared
    assert ahead.take() is None
    assert prepare.bodies == ["a"]
    assert ahead.release() == 1
    assert len(queue.receive(10, 0)) == 2  # b released, c never received
