"""Load test: offer N photos at R per second and watch the service work through them.

    python -m bench.loadtest --target local --rate 30 --count 1800
    python -m bench.loadtest --target aws --rate 30 --count 3000 --chat-id <your chat id> \
        --asg <WorkerAutoScalingGroupName output>

local: drives a running `make up` stack (ports from local/config.py) through the Telegram
emulator, so every photo takes the whole path; each photo gets its own chat, so "exactly one
answer per photo" can be checked at the end.
aws: uses the AWS credentials of the shell and IMAGES_BUCKET / JOBS_QUEUE_URL /
PREDICTIONS_TABLE (the data stack's outputs); uploads the sample photos into the real bucket
and injects jobs into the real queue for --chat-id, as polybot would (so the replies go to
that chat). Both report completions, latency percentiles (created_at → notified_at, or
completed_at when polybot was not told), queue depth and, with --asg, the in-service count
over time.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import boto3
import requests
from tqdm import tqdm

from bench.jobs import JobInjector, bound_to
from bench.offer import offer
from bench.stats import percentile
from common.env import env_str
from local.bootstrap import Resources
from local.samples import sample_image

TERMINAL = ("DONE", "FAILED")


@dataclass
class Sample:
    t: float
    visible: int
    in_flight: int
    done: int
    in_service: int | None


@dataclass
class Outcome:
    sent: int = 0
    send_failures: int = 0
    send_seconds: float = 0.0
    drain_seconds: float | None = None
    samples: list[Sample] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    answers: dict[str, int] = field(default_factory=dict)  # local: chats by annotated replies

    def percentiles(self) -> dict[str, float]:
        return {f"p{q}": percentile(self.latencies_ms, q) for q in (50, 95, 99)}


class Target:
    """What differs between local and aws: how a photo goes in, how completion is seen."""

    def __init__(self, session, resources: Resources, asg: str | None) -> None:
        self.injector = JobInjector(session, resources)
        self.table = self.injector.table
        self.autoscaling = session.client("autoscaling") if asg else None
        self.asg = asg

    def in_service(self) -> int | None:
        if not self.autoscaling:
            return None
        groups = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[self.asg])
        instances = (
            groups["AutoScalingGroups"][0]["Instances"] if groups["AutoScalingGroups"] else []
        )
        return sum(i["LifecycleState"] == "InService" for i in instances)


class AwsTarget(Target):
    def __init__(self, session, resources, asg, chat_id: int, photos: list[bytes]) -> None:
        super().__init__(session, resources, asg)
        self.chat_id, self.photos, self.ids = chat_id, photos, []
        self._finished: set[str] = set()
        self._lock = threading.Lock()

    def send(self, http, index: int) -> int:
        job = self.injector.stage(self.photos[index % len(self.photos)], self.chat_id, index)
        self.injector.send([job])
        with self._lock:
            self.ids.append(job.prediction_id)
        return 200

    def items(self, ids: list[str] | None = None) -> list[dict]:
        ids = self.ids if ids is None else ids
        found = []
        for start in range(0, len(ids), 100):
            keys = [{"prediction_id": pid} for pid in ids[start : start + 100]]
            request = {self.table.name: {"Keys": keys}}
            while request:
                reply = self.table.meta.client.batch_get_item(RequestItems=request)
                found += reply["Responses"].get(self.table.name, [])
                request = reply.get("UnprocessedKeys") or None
        return found

    def done(self, budget: int = 500) -> int:
        """Checks the oldest unfinished jobs first, a bounded number per call."""
        with self._lock:
            pending = [pid for pid in self.ids if pid not in self._finished][:budget]
        for item in self.items(pending):
            if item.get("status") in TERMINAL:
                self._finished.add(item["prediction_id"])
        return len(self._finished)


class LocalTarget(Target):
    def __init__(self, session, resources, emulator_url: str, photos, base_chat: int) -> None:
        super().__init__(session, resources, None)
        self.emulator, self.photos, self.base = emulator_url, photos, base_chat
        self.count = 0
        self._answered: set[int] = set()
        self._http = requests.Session()

    def send(self, http, index: int) -> int:
        url = f"{self.emulator}/emulator/chats/{self.base + index}/photo"
        response = http.post(url, data=self.photos[index % len(self.photos)], timeout=60)
        response.raise_for_status()
        return int(response.json().get("webhook_status") or 0)

    def messages(self, index: int) -> list[dict]:
        url = f"{self.emulator}/emulator/chats/{self.base + index}/messages"
        return self._http.get(url, timeout=10).json()

    def done(self, misses: int = 5) -> int:
        """Checks the oldest unanswered chats first; answers come roughly in order, so a few
        unanswered ones in a row end the round (the final accounting checks every chat)."""
        for index in range(self.count):
            if misses == 0:
                break
            if index not in self._answered:
                if _photos(self.messages(index)):
                    self._answered.add(index)
                else:
                    misses -= 1
        return len(self._answered)

    def items(self) -> list[dict]:
        chats = range(self.base, self.base + self.count)
        items, kwargs = [], {}
        while True:
            page = self.table.scan(**kwargs)
            items += [i for i in page["Items"] if int(i.get("chat_id", -1)) in chats]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def run(target, rate: float, count: int, interval: float, timeout: float, progress=True):
    outcome = Outcome()
    if isinstance(target, LocalTarget):
        target.count = count
    bar = tqdm(total=count, unit="photo", disable=not progress, file=sys.stderr)
    started = time.perf_counter()
    stop = threading.Event()

    def monitor() -> None:
        while True:
            visible, in_flight = target.injector.depth()
            done = target.done()
            outcome.samples.append(
                Sample(time.perf_counter() - started, visible, in_flight, done, target.in_service())
            )
            bar.n = done
            bar.set_postfix(queue=visible, in_flight=in_flight, refresh=False)
            bar.refresh()
            if stop.wait(interval):
                return

    watcher = threading.Thread(target=monitor, daemon=True)
    watcher.start()
    results = offer(target.send, rate, count)
    outcome.send_seconds = time.perf_counter() - started
    outcome.sent = sum(r.ok for r in results)
    outcome.send_failures = count - outcome.sent
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        last = outcome.samples[-1] if outcome.samples else None
        if last and last.done >= outcome.sent and last.visible + last.in_flight == 0:
            outcome.drain_seconds = last.t - outcome.send_seconds
            break
        time.sleep(interval / 2)
    stop.set()
    watcher.join(interval * 4 + 30)
    bar.close()
    _account(target, outcome)
    return outcome


def _account(target, outcome: Outcome) -> None:
    for item in target.items():
        status = item.get("status", "?")
        outcome.statuses[status] = outcome.statuses.get(status, 0) + 1
        end = item.get("notified_at") or item.get("completed_at")
        if status in TERMINAL and end and item.get("created_at"):
            outcome.latencies_ms.append((_ts(end) - _ts(item["created_at"])) * 1000)
    if isinstance(target, LocalTarget):
        for index in range(target.count):
            n = _photos(target.messages(index))
            key = "0" if n == 0 else "1" if n == 1 else ">1"
            outcome.answers[key] = outcome.answers.get(key, 0) + 1


def _photos(messages: list[dict]) -> int:
    """Annotated replies; polybot's "Got it" acknowledgement is not an answer."""
    return sum(m.get("method") == "sendPhoto" for m in messages)


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def photos_from(paths: list[str] | None) -> list[bytes]:
    if paths:
        return [Path(p).read_bytes() for p in paths]
    return [sample_image(n).read_bytes() for n in ("bus.jpg", "zidane.jpg")]


def report(outcome: Outcome) -> str:
    p = outcome.percentiles()
    lines = [
        f"sent {outcome.sent} (failed to send {outcome.send_failures}) in "
        f"{outcome.send_seconds:.1f} s",
        f"items by status: {outcome.statuses}",
        f"latency ms: p50 {p['p50']:.0f}  p95 {p['p95']:.0f}  p99 {p['p99']:.0f}",
        "drain after the last send: "
        + (f"{outcome.drain_seconds:.1f} s" if outcome.drain_seconds is not None else "timed out"),
    ]
    if outcome.answers:
        lines.append(f"chats by number of answers: {outcome.answers}")
    lines.append("t(s)  queue  in-flight  done  in-service")
    step = max(1, len(outcome.samples) // 40)
    for s in outcome.samples[::step]:
        lines.append(f"{s.t:5.0f} {s.visible:6d} {s.in_flight:10d} {s.done:5d}  {s.in_service}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=("local", "aws"), required=True)
    parser.add_argument("--rate", type=float, default=30.0, help="photos per second")
    parser.add_argument("--count", type=int, default=300, help="photos in all")
    parser.add_argument("--chat-id", type=int, default=0, help="aws: the chat to answer")
    parser.add_argument("--asg", help="aws: the worker Auto Scaling group to watch")
    parser.add_argument("--photo", action="append", help="photo file(s); default samples")
    parser.add_argument("--interval", type=float, default=2.0, help="sampling period, s")
    parser.add_argument("--timeout", type=float, default=1800, help="max wait to drain, s")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.count <= 0:
        parser.error("--rate and --count must be positive")
    photos = photos_from(args.photo)
    if args.target == "aws":
        if not args.chat_id:
            parser.error("--chat-id is required with --target aws (the chat that gets replies)")
        session = boto3.Session()
        resources = Resources(
            env_str("IMAGES_BUCKET"), env_str("PREDICTIONS_TABLE"), env_str("JOBS_QUEUE_URL")
        )
        target = AwsTarget(session, resources, args.asg, args.chat_id, photos)
    else:
        target = local_target(photos)
    print(report(run(target, args.rate, args.count, args.interval, args.timeout)))
    return 0


def local_target(photos, cfg=None, base_chat: int | None = None) -> LocalTarget:
    from local import harness
    from local.config import LocalConfig

    cfg = cfg or LocalConfig.from_env()
    if not cfg.outputs_file.exists():
        raise SystemExit(f"no local stack outputs at {cfg.outputs_file}: run `make up` first")
    outputs = harness.outputs(cfg)
    session = harness.session(cfg)
    resources = Resources(
        outputs["IMAGES_BUCKET"], outputs["PREDICTIONS_TABLE"], outputs["JOBS_QUEUE_URL"]
    )
    base = base_chat if base_chat is not None else int(time.time()) * 10_000
    return LocalTarget(bound_to(session, cfg.moto_url), resources, cfg.emulator_url, photos, base)


if __name__ == "__main__":
    sys.exit(main())
