"""The load test's AWS mode against a moto server over HTTP, with a stand-in worker.

The data stack is the project's own template deployed into moto (as `make up` does), and the
load test finds it by prefix; the stand-in worker finishes every job as yolo5 would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid

import boto3
import pytest

from bench import loadtest, stacks
from bench.jobs import bound_to
from common.contracts import DONE, NO_REPLY_CHAT_ID, utc_now_iso
from local.bootstrap import deploy_data_stack
from local.config import ROOT
from tests.support.images import sample_image

REGION = "us-east-1"

# Run in a child Python: every import outside the standard library, the project's packages,
# boto3, tqdm and what they require is refused, and torch and yolov5 by name, as in AWS
# CloudShell with `pip install --user boto3 tqdm`. It then runs the load test's main().
CLOUDSHELL = r"""
import importlib.abc, importlib.metadata as md, re, sys

def closure(names):
    seen, todo = set(), list(names)
    while todo:
        name = re.split(r"[ ;<>=!~\[(]", todo.pop(), maxsplit=1)[0].lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        for req in md.requires(name) or []:
            if "extra ==" not in req:
                todo.append(req)
    return seen

ALLOWED = closure(["boto3", "tqdm"])
OWNERS = md.packages_distributions()
PROJECT = {"bench", "common", "local"}
REFUSED = []

class CloudShell(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in sys.stdlib_module_names or top in PROJECT or top.startswith("_"):
            return None
        owners = {d.lower().replace("_", "-") for d in OWNERS.get(top, [])}
        if owners & ALLOWED:
            return None
        REFUSED.append(top)
        # What a missing module raises: optional imports (tqdm's envwrap) expect exactly this.
        raise ModuleNotFoundError(f"{top} is not installed in CloudShell", name=top)

sys.modules["torch"] = None
sys.modules["yolov5"] = None
sys.meta_path.insert(0, CloudShell())
from bench.loadtest import main
code = main(sys.argv[1:])
print("refused imports:", sorted(set(REFUSED)), file=sys.stderr)
loaded = {m.partition(".")[0] for m, module in list(sys.modules.items()) if module is not None}
print("loaded:", sorted(loaded), file=sys.stderr)
sys.exit(code)
"""


@pytest.fixture
def data_stack(moto_server, monkeypatch):
    """The data template as `<prefix>-data` in the moto server; AWS_ENDPOINT_URL points there."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    session = boto3.Session(region_name=REGION)
    prefix = f"lt{uuid.uuid4().hex[:8]}"
    deploy_data_stack(session.client("cloudformation"), prefix)
    deployment = stacks.discover(session.client("cloudformation"), prefix)
    return session, prefix, deployment


@pytest.fixture
def worker(data_stack):
    """A stand-in worker: marks every job's item DONE and deletes the message; the jobs seen."""
    session, _, deployment = data_stack
    stop, seen = threading.Event(), []
    thread = threading.Thread(target=_work, args=(session, deployment, stop, seen), daemon=True)
    thread.start()
    yield seen
    stop.set()
    thread.join(10)


def _work(session, deployment, stop: threading.Event, seen: list[dict]) -> None:
    sqs = session.client("sqs")
    table = session.resource("dynamodb").Table(deployment.table)
    while not stop.is_set():
        reply = sqs.receive_message(
            QueueUrl=deployment.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        )
        for message in reply.get("Messages", []):
            job = json.loads(message["Body"])
            seen.append(job)
            table.update_item(
                Key={"prediction_id": job["prediction_id"]},
                UpdateExpression="SET #s = :done, completed_at = :now",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":done": DONE, ":now": utc_now_iso()},
            )
            sqs.delete_message(
                QueueUrl=deployment.queue_url, ReceiptHandle=message["ReceiptHandle"]
            )


def aws_args(prefix: str, *more: str) -> list[str]:
    return [
        "--target",
        "aws",
        "--no-reply",
        "--prefix",
        prefix,
        "--region",
        REGION,
        "--interval",
        "0.2",
        "--timeout",
        "60",
        *more,
    ]


def keys(session, bucket: str, prefix: str) -> list[str]:
    listed = session.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def test_no_reply_run_finds_the_stack_copies_the_sample_and_accounts_for_every_job(
    data_stack, worker, capsys
):
    session, prefix, deployment = data_stack
    photo = str(sample_image("zidane.jpg"))

    assert loadtest.main(aws_args(prefix, "--count", "6", "--rate", "20", "--photo", photo)) == 0

    out, err = capsys.readouterr()
    assert "offered 6  done 6  failed 0  unfinished 0" in out
    assert "largest group size: –" in out
    assert err.count("watching no worker group") == 1
    assert "group desired – in service –  cpu –" in err
    # The sample went up once, under originals/ (the lifecycle rules); each job's original is
    # a copy of it under the job contract's key, for chat 0.
    samples = keys(session, deployment.bucket, loadtest.SAMPLES_PREFIX)
    assert len(samples) == 1 and samples[0].startswith("originals/")
    originals = keys(session, deployment.bucket, f"originals/{NO_REPLY_CHAT_ID}/")
    assert sorted(j["image_key"] for j in worker) == originals and len(originals) == 6
    s3 = session.client("s3")
    body = s3.get_object(Bucket=deployment.bucket, Key=originals[0])["Body"].read()
    assert body == sample_image("zidane.jpg").read_bytes()
    table = session.resource("dynamodb").Table(deployment.table)
    for job in worker:
        assert job["chat_id"] == NO_REPLY_CHAT_ID and job["bucket"] == deployment.bucket
        item = table.get_item(Key={"prediction_id": job["prediction_id"]})["Item"]
        assert (item["status"], item["chat_id"], item["reply"]) == (DONE, 0, False)


def test_a_later_run_reuses_the_uploaded_samples(data_stack, worker, monkeypatch, capsys):
    session, prefix, deployment = data_stack
    photo = str(sample_image("bus.jpg"))
    assert loadtest.main(aws_args(prefix, "--count", "1", "--photo", photo)) == 0
    before = keys(session, deployment.bucket, loadtest.SAMPLES_PREFIX)
    # No --photo and no yolov5 package: the samples in the bucket are the photos.
    monkeypatch.setattr(loadtest, "yolov5_samples", list)
    put = []
    real = loadtest.upload_samples
    monkeypatch.setattr(loadtest, "upload_samples", lambda *a: put.append(a) or real(*a))

    assert loadtest.main(aws_args(prefix, "--duration", "0.5", "--rate", "4")) == 0

    assert put == []
    assert keys(session, deployment.bucket, loadtest.SAMPLES_PREFIX) == before
    assert "offered 2  done 2" in capsys.readouterr().out
    copies = [j for j in worker if j["image_key"].startswith("originals/0/")]
    assert len(copies) == 3


def test_no_photo_anywhere_says_how_to_give_one(data_stack, monkeypatch):
    _, prefix, _ = data_stack
    monkeypatch.setattr(loadtest, "yolov5_samples", list)
    with pytest.raises(SystemExit, match="--photo"):
        loadtest.main(aws_args(prefix, "--count", "1"))


def test_a_missing_data_stack_is_named(moto_server, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    with pytest.raises(SystemExit, match="no stack nosuch-data"):
        loadtest.main(aws_args("nosuch", "--count", "1"))


def test_the_worker_group_is_watched_with_desired_in_service_and_the_largest_size(
    data_stack, worker, capsys
):
    session, prefix, _ = data_stack
    group = f"workers-{uuid.uuid4().hex[:6]}"
    autoscaling = session.client("autoscaling")
    image = session.client("ec2").describe_images()["Images"][0]["ImageId"]
    autoscaling.create_launch_configuration(
        LaunchConfigurationName=group, ImageId=image, InstanceType="t3.medium"
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=group,
        LaunchConfigurationName=group,
        MinSize=1,
        MaxSize=2,
        DesiredCapacity=2,
        AvailabilityZones=[f"{REGION}a"],
    )
    photo = str(sample_image("bus.jpg"))

    assert loadtest.main(aws_args(prefix, "--count", "2", "--asg", group, "--photo", photo)) == 0

    out, err = capsys.readouterr()
    assert "watching no worker group" not in err
    assert "group desired 2 in service 2" in err
    assert "largest group size: 2" in out


def test_an_undrained_queue_is_reported_as_timed_out(data_stack):
    session, _, deployment = data_stack
    samples = loadtest.upload_samples(
        session.client("s3"), deployment.bucket, [("x.jpg", b"\xff\xd8 not really a photo")]
    )
    target = loadtest.AwsTarget(session, deployment, samples, 0, reply=False)
    outcome = loadtest.run(target, rate=50, count=3, interval=0.2, timeout=1, progress=False)

    assert outcome.sent == 3
    assert outcome.drain_seconds is None
    assert outcome.statuses == {"PENDING": 3}
    assert "unfinished 3" in loadtest.report(outcome)
    assert "timed out" in loadtest.report(outcome)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--prefix", "p", "--count", "1"], "--chat-id"),
        (["--prefix", "p", "--chat-id", "5", "--rate", "2"], "--no-reply"),
        (["--no-reply", "--count", "1"], "--prefix"),
        (["--no-reply", "--prefix", "p", "--count", "1", "--duration", "5"], "not allowed"),
        (["--no-reply", "--prefix", "p", "--chat-id", "5"], "drop --chat-id"),
    ],
)
def test_refused_command_lines(argv, message, capsys):
    with pytest.raises(SystemExit):
        loadtest.parse(["--target", "aws", *argv])
    assert message in capsys.readouterr().err


def test_a_test_chat_is_offered_one_photo_per_second_at_most():
    args = loadtest.parse(["--target", "aws", "--prefix", "p", "--chat-id", "5"])
    assert (args.rate, args.count) == (1.0, 300)
    args = loadtest.parse(["--target", "aws", "--no-reply", "--prefix", "p", "--duration", "60"])
    assert (args.rate, args.count) == (30.0, 1800)


def test_it_runs_as_in_cloudshell_without_torch_yolov5_or_anything_else(data_stack, worker):
    """A child Python where only the standard library, boto3, tqdm (and what they need) can
    be imported runs a whole no-reply load test."""
    _, prefix, _ = data_stack
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"],
        "PYTHONPATH": str(ROOT),
    }
    photo = str(sample_image("bus.jpg"))
    argv = aws_args(prefix, "--count", "3", "--photo", photo)
    result = run_as_in_cloudshell(argv, env, timeout=120)

    assert result.returncode == 0, result.stderr[-3000:]
    assert "offered 3  done 3  failed 0" in result.stdout
    loaded = result.stderr.rsplit("loaded:", 1)[1]
    for name in ("torch", "yolov5", "requests", "werkzeug", "flask", "numpy", "PIL"):
        assert f"'{name}'" not in loaded, name


def run_as_in_cloudshell(
    argv: list[str], env: dict[str, str] | None, timeout: float, script: str = CLOUDSHELL
) -> subprocess.CompletedProcess[str]:
    """`script` (the load test's main, by default) in a child Python that can import only
    what CloudShell has, with `argv`."""
    return subprocess.run(
        [sys.executable, "-c", script, *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_the_blocker_refuses_what_cloudshell_lacks():
    """The CloudShell child is not a pass-through: importing requests there fails."""
    script = CLOUDSHELL.replace("from bench.loadtest import main", "import requests")
    result = run_as_in_cloudshell([], None, timeout=60, script=script)
    assert result.returncode != 0
    assert "requests is not installed in CloudShell" in result.stderr


def test_the_bound_session_helper_still_serves_the_benchmarks(moto_server):
    session = bound_to(boto3.Session(region_name=REGION), moto_server)
    assert session.client("sqs").list_queues()["ResponseMetadata"]["HTTPStatusCode"] == 200
