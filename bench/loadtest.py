"""Load test: offer N photos at R per second and watch the service work through them.

    python -m bench.loadtest --target aws --no-reply --prefix P --region R --rate 30 --count 9000
    python -m bench.loadtest --target local --rate 30 --count 1800

aws: finds the bucket, queue and table in the data stack `<prefix>-data` and the worker group
in the app stack `<prefix>-app` (bench/stacks.py; --asg overrides the group). The sample
photos are uploaded once, under originals/ where the bucket's lifecycle rules expire them;
each job's original is a server-side copy of one (S3 CopyObject), its PENDING item and SQS
job are written as polybot would, so every job takes the worker's whole path and polybot's
/results. With --no-reply the items say `reply: false` and carry chat 0: polybot marks them
notified and sends nothing. Without it the answers go to --chat-id, a test chat, at most one
photo per second (Telegram's rate for one chat). boto3's AWS_ENDPOINT_URL points it at
`make up`'s moto server, which has no app stack: then no group is watched.
local: drives a running `make up` through the Telegram emulator, one chat per photo
(bench/loadtest_local.py).

Both show a progress bar and report completions, latency percentiles (created_at →
notified_at, or completed_at when polybot was not told) and the queue depth over time.
This module imports only the standard library, boto3 and tqdm, so that it runs in AWS
CloudShell (python3.11 with `pip install --user boto3 tqdm`).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
from botocore.exceptions import ClientError
from tqdm import tqdm

from bench import stacks
from bench.jobs import JobInjector
from bench.offer import offer
from bench.stats import percentile
from common.contracts import (
    DONE,
    FAILED,
    MISSING_OBJECT_CODES,
    NO_REPLY_CHAT_ID,
    ORIGINALS_PREFIX,
    ItemAttr,
)
from local.samples import sample_image

TERMINAL = (DONE, FAILED)
# Under originals/, which the data template's lifecycle rules expire; no chat id looks like it.
SAMPLES_PREFIX = f"{ORIGINALS_PREFIX}loadtest-samples/"
YOLOV5_SAMPLES = ("bus.jpg", "zidane.jpg")
TELEGRAM_CHAT_RATE = 1.0  # photos/s: what Telegram lets a bot send to one chat
NONE = "–"  # a column with nothing to show (no group watched, no CPU datapoint yet)


@dataclass
class Sample:
    t: float
    visible: int
    in_flight: int
    done: int
    in_service: int | None
    desired: int | None = None
    cpu: float | None = None
    offered: int = 0


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
        return {f"p{q}": percentile(self.latencies_ms, q) for q in (50, 90, 95, 99)}

    @property
    def largest_group(self) -> int | None:
        sizes = [n for s in self.samples for n in (s.in_service, s.desired) if n is not None]
        return max(sizes, default=None)


class GroupWatch:
    """The worker Auto Scaling group: desired and in-service instances, average CPU."""

    def __init__(self, session, group: str) -> None:
        self.group = group
        self.autoscaling = session.client("autoscaling")
        self.cloudwatch = session.client("cloudwatch")

    def sizes(self) -> tuple[int | None, int | None]:
        groups = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[self.group])[
            "AutoScalingGroups"
        ]
        if not groups:
            return None, None
        in_service = sum(i["LifecycleState"] == "InService" for i in groups[0]["Instances"])
        return groups[0]["DesiredCapacity"], in_service

    def cpu(self) -> float | None:
        """The latest average CPU of the group (the metric its target tracking follows)."""
        now = datetime.now(UTC)
        points = self.cloudwatch.get_metric_statistics(
            Namespace="AWS/EC2",
            MetricName="CPUUtilization",
            Dimensions=[{"Name": "AutoScalingGroupName", "Value": self.group}],
            StartTime=now - timedelta(minutes=10),
            EndTime=now,
            Period=60,
            Statistics=["Average"],
        )["Datapoints"]
        return max(points, key=lambda p: p["Timestamp"])["Average"] if points else None


class Target:
    """What differs between local and aws: how a photo goes in, how completion is seen."""

    uses_http = False  # True: send() gets a requests.Session (the local target's emulator)

    def __init__(self, injector: JobInjector, watch: GroupWatch | None = None) -> None:
        self.injector = injector
        self.table = injector.table
        self.watch = watch

    def start(self, count: int) -> None:
        """Called once before the first photo is offered."""

    def answers(self) -> dict[str, int]:
        return {}

    def group(self) -> tuple[int | None, int | None, float | None]:
        """(desired, in service, CPU %), None for what is not watched or not known yet."""
        if self.watch is None:
            return None, None, None
        desired, in_service = self.watch.sizes()
        return desired, in_service, self.watch.cpu()


class AwsTarget(Target):
    """Jobs copied from samples in the bucket; chat_id NO_REPLY_CHAT_ID with reply=False."""

    def __init__(
        self, session, deployment, samples: list[str], chat_id: int, reply: bool = True
    ) -> None:
        group = getattr(deployment, "group", None)
        super().__init__(
            JobInjector(session, deployment), GroupWatch(session, group) if group else None
        )
        self.samples, self.chat_id, self.reply = samples, chat_id, reply
        self.ids: list[str] = []
        self._finished: dict[str, str] = {}
        self._lock = threading.Lock()

    def send(self, http, index: int) -> int:
        source = self.samples[index % len(self.samples)]
        job = self.injector.stage_copy(source, self.chat_id, index + 1, reply=self.reply)
        self.injector.send([job])
        with self._lock:
            self.ids.append(job.prediction_id)
        return 200

    def items(self, ids: list[str] | None = None) -> list[dict]:
        with self._lock:
            ids = list(self.ids if ids is None else ids)
        found = []
        for start in range(0, len(ids), 100):
            keys = [{ItemAttr.PREDICTION_ID: pid} for pid in ids[start : start + 100]]
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
            if item.get(ItemAttr.STATUS) in TERMINAL:
                self._finished[item[ItemAttr.PREDICTION_ID]] = item[ItemAttr.STATUS]
        return len(self._finished)


def run(target, rate, count, interval, timeout, progress=True, lines=False) -> Outcome:
    """Offer `count` photos at `rate`/s, then wait up to `timeout` s for the drain. lines: a
    status line every `interval` s (offered, done, queue, group, CPU) under the bar."""
    outcome = Outcome()
    target.start(count)
    bar = tqdm(total=count, unit="photo", disable=not progress, file=sys.stderr)
    started = time.perf_counter()
    stop = threading.Event()
    offered = [0]

    def monitor() -> None:
        while True:
            sample = _sample(target, time.perf_counter() - started, offered[0])
            outcome.samples.append(sample)
            bar.n = sample.done
            bar.set_postfix(queue=sample.visible, in_flight=sample.in_flight, refresh=False)
            bar.refresh()
            if lines:
                tqdm.write(status_line(sample), file=sys.stderr)
            if stop.wait(interval):
                return

    def counted(_sent) -> None:
        offered[0] += 1

    watcher = threading.Thread(target=monitor, daemon=True)
    watcher.start()
    results = offer(target.send, rate, count, on_done=counted, http=target.uses_http)
    outcome.send_seconds = time.perf_counter() - started
    outcome.sent = sum(r.ok for r in results)
    outcome.send_failures = count - outcome.sent
    _wait_for_drain(outcome, timeout, interval)
    stop.set()
    watcher.join(interval * 4 + 30)
    bar.close()
    _account(target, outcome)
    return outcome


def _sample(target, t: float, offered: int) -> Sample:
    visible, in_flight = target.injector.depth()
    desired, in_service, cpu = target.group()
    return Sample(t, visible, in_flight, target.done(), in_service, desired, cpu, offered)


def _wait_for_drain(outcome: Outcome, timeout: float, interval: float) -> None:
    """Until the monitor's last sample shows every sent photo done and the queue empty."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        last = outcome.samples[-1] if outcome.samples else None
        if last and last.done >= outcome.sent and last.visible + last.in_flight == 0:
            outcome.drain_seconds = max(0.0, last.t - outcome.send_seconds)
            return
        time.sleep(min(interval / 2, 1.0))


def _account(target, outcome: Outcome) -> None:
    for item in target.items():
        status = item.get(ItemAttr.STATUS, "?")
        outcome.statuses[status] = outcome.statuses.get(status, 0) + 1
        end = item.get(ItemAttr.NOTIFIED_AT) or item.get(ItemAttr.COMPLETED_AT)
        if status in TERMINAL and end and item.get(ItemAttr.CREATED_AT):
            outcome.latencies_ms.append((_ts(end) - _ts(item[ItemAttr.CREATED_AT])) * 1000)
    outcome.answers = target.answers()


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _shown(value, fmt: str = "{}") -> str:
    return NONE if value is None else fmt.format(value)


def status_line(s: Sample) -> str:
    return (
        f"{s.t:6.0f} s  offered {s.offered}  done {s.done}  queue {s.visible} "
        f"(in flight {s.in_flight})  group desired {_shown(s.desired)} "
        f"in service {_shown(s.in_service)}  cpu {_shown(s.cpu, '{:.0f} %')}"
    )


# -- sample photos --------------------------------------------------------------------------
def sample_key(data: bytes, name: str) -> str:
    """One key per content: a photo offered twice is uploaded once."""
    ext = Path(name).suffix.lower().lstrip(".") or "jpg"
    return f"{SAMPLES_PREFIX}{hashlib.sha256(data).hexdigest()[:16]}.{ext}"


def upload_samples(s3, bucket: str, photos: list[tuple[str, bytes]]) -> list[str]:
    keys = []
    for name, data in photos:
        key = sample_key(data, name)
        try:
            s3.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in MISSING_OBJECT_CODES:
                raise
            s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="image/jpeg")
        keys.append(key)
    return keys


def uploaded_samples(s3, bucket: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=SAMPLES_PREFIX)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def yolov5_samples() -> list[tuple[str, bytes]]:
    """The yolov5 package's sample photos, when it is installed (never imported: no torch)."""
    try:
        return [(name, sample_image(name).read_bytes()) for name in YOLOV5_SAMPLES]
    except FileNotFoundError:
        return []


def samples_in(s3, bucket: str, paths: list[str] | None) -> list[str]:
    """The sample keys to copy from: --photo files (uploaded once), else what a previous run
    uploaded, else yolov5's bus.jpg and zidane.jpg (uploaded once)."""
    if paths:
        return upload_samples(s3, bucket, [(p, Path(p).read_bytes()) for p in paths])
    if keys := uploaded_samples(s3, bucket):
        return keys
    if photos := yolov5_samples():
        return upload_samples(s3, bucket, photos)
    raise SystemExit(
        f"no photos: none under s3://{bucket}/{SAMPLES_PREFIX} and the yolov5 package is not "
        "installed; pass --photo FILE (once: later runs reuse it)"
    )


def photos_from(paths: list[str] | None) -> list[bytes]:
    """The local target's photos: --photo files, else yolov5's samples."""
    if paths:
        return [Path(p).read_bytes() for p in paths]
    return [sample_image(name).read_bytes() for name in YOLOV5_SAMPLES]


# -- the report -----------------------------------------------------------------------------
def report(outcome: Outcome) -> str:
    p = outcome.percentiles()
    done = outcome.statuses.get(DONE, 0)
    failed = outcome.statuses.get(FAILED, 0)
    unfinished = sum(n for s, n in outcome.statuses.items() if s not in TERMINAL)
    lines = [
        f"offered {outcome.sent + outcome.send_failures}  done {done}  failed {failed}  "
        f"unfinished {unfinished}  not offered (send failed) {outcome.send_failures}",
        f"offering took {outcome.send_seconds:.1f} s",
        f"items by status: {outcome.statuses}",
        f"latency ms: p50 {p['p50']:.0f}  p90 {p['p90']:.0f}  p95 {p['p95']:.0f}  "
        f"p99 {p['p99']:.0f}",
        "drain after the last send: "
        + (f"{outcome.drain_seconds:.1f} s" if outcome.drain_seconds is not None else "timed out"),
        f"largest group size: {_shown(outcome.largest_group)}",
    ]
    if outcome.answers:
        lines.append(f"chats by number of answers: {outcome.answers}")
    lines.append("t(s)  queue  in-flight  done  desired  in-service  cpu")
    step = max(1, len(outcome.samples) // 40)
    for s in outcome.samples[::step]:
        lines.append(
            f"{s.t:5.0f} {s.visible:6d} {s.in_flight:10d} {s.done:5d}  {_shown(s.desired):>7}"
            f"  {_shown(s.in_service):>10}  {_shown(s.cpu, '{:.0f}'):>3}"
        )
    return "\n".join(lines)


# -- the command ----------------------------------------------------------------------------
def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=("local", "aws"), required=True)
    parser.add_argument("--rate", type=float, help="photos per second (default 30; 1 to a chat)")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--count", type=int, help="photos in all (default 300)")
    length.add_argument("--duration", type=float, help="seconds of offering, at --rate")
    parser.add_argument("--no-reply", action="store_true", help="aws: chat 0, nothing sent")
    parser.add_argument("--chat-id", type=int, help="aws without --no-reply: the test chat")
    parser.add_argument("--prefix", help="aws: the stacks' prefix (<prefix>-data, <prefix>-app)")
    parser.add_argument("--region", help="aws: the stacks' region (default: the shell's)")
    parser.add_argument("--asg", help="aws: the worker group to watch (default: the app stack's)")
    parser.add_argument("--photo", action="append", help="photo file (repeatable)")
    parser.add_argument("--interval", type=float, help="seconds between status lines")
    parser.add_argument("--timeout", type=float, default=1800, help="max wait to drain, s")
    args = parser.parse_args(argv)
    if args.target == "aws":
        if not args.prefix:
            parser.error("--prefix is required with --target aws")
        if not args.no_reply:
            if args.chat_id is None:
                parser.error("--chat-id is required with --target aws (or use --no-reply)")
            if args.rate is not None and args.rate > TELEGRAM_CHAT_RATE:
                parser.error(
                    f"--rate above {TELEGRAM_CHAT_RATE:g} needs --no-reply: Telegram sends one "
                    "chat about one message per second"
                )
        elif args.chat_id is not None:
            parser.error("--no-reply answers no chat: drop --chat-id")
    if args.rate is None:
        args.rate = 30.0 if args.target == "local" or args.no_reply else TELEGRAM_CHAT_RATE
    if args.duration is not None:
        args.count = max(1, round(args.rate * args.duration))
    elif args.count is None:
        args.count = 300
    if args.rate <= 0 or args.count <= 0 or args.timeout < 0:
        parser.error("--rate, --count and --duration must be positive")
    if args.interval is None:
        args.interval = 10.0 if args.target == "aws" else 2.0
    return args


def aws_target(args) -> AwsTarget:
    session = boto3.Session(region_name=args.region) if args.region else boto3.Session()
    try:
        deployment = stacks.discover(session.client("cloudformation"), args.prefix, args.asg)
    except stacks.MissingStack as exc:
        raise SystemExit(str(exc)) from None
    if deployment.group is None:
        print(
            f"no app stack {stacks.app_stack(args.prefix)}: watching no worker group "
            f"(group and CPU show {NONE})",
            file=sys.stderr,
        )
    samples = samples_in(session.client("s3"), deployment.bucket, args.photo)
    chat = NO_REPLY_CHAT_ID if args.no_reply else args.chat_id
    return AwsTarget(session, deployment, samples, chat, reply=not args.no_reply)


def main(argv=None) -> int:
    args = parse(argv)
    if args.target == "aws":
        target = aws_target(args)
    else:
        from bench.loadtest_local import local_target

        target = local_target(photos_from(args.photo))
    outcome = run(target, args.rate, args.count, args.interval, args.timeout, lines=True)
    print(report(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main())
