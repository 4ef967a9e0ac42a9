"""The local stack's moto server: moto itself, with SQS reading the clock cheaply."""

from __future__ import annotations

import time

import boto3
import pytest
from moto.core.utils import unix_time_millis

from bench.procs import moto_server
from local import moto_server as fixes


def test_the_fast_clock_gives_moto_the_same_time():
    fast = fixes.fast_unix_time_millis(unix_time_millis)
    assert abs(fast() - unix_time_millis()) < 1000
    # An explicit datetime still goes to moto's own arithmetic.
    from datetime import datetime

    moment = datetime(2026, 1, 2, 3, 4, 5)
    assert fast(moment) == unix_time_millis(moment)


def test_the_patch_is_applied_once_and_only_to_sqs(monkeypatch):
    from moto.core import utils
    from moto.sqs import models

    monkeypatch.setattr(models, "unix_time_millis", models.unix_time_millis)
    assert fixes.patch_sqs_clock()
    patched = models.unix_time_millis
    assert patched.original is utils.unix_time_millis
    assert fixes.patch_sqs_clock()
    assert models.unix_time_millis is patched  # not wrapped twice
    assert utils.unix_time_millis is not patched


@pytest.fixture
def patched_server():
    with moto_server() as url:  # the bench's starter: python -m local.moto_server
        yield url


def test_visibility_and_delay_still_hold_on_the_patched_server(patched_server):
    sqs = boto3.client("sqs", endpoint_url=patched_server, region_name="us-east-1")
    url = sqs.create_queue(QueueName="clock")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="now")
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=2)

    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=1)
    assert [m["Body"] for m in first["Messages"]] == ["now"]  # "later" is still delayed
    assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    time.sleep(2.5)  # past the visibility timeout of "now" and the delay of "later"
    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30)
    assert sorted(m["Body"] for m in again["Messages"]) == ["later", "now"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "2"


def test_moto_lists_its_service_modules_once(monkeypatch):
    import os

    from moto import backends

    monkeypatch.setattr(backends, "list_of_moto_modules", backends.list_of_moto_modules)
    expected = list(backends.list_of_moto_modules())
    assert fixes.patch_module_listing()
    assert "sqs" in expected and "dynamodb" in expected

    def no_listing(path):
        raise AssertionError(f"listed {path} again")

    monkeypatch.setattr(os, "listdir", no_listing)
    assert list(backends.list_of_moto_modules()) == expected
    assert fixes.patch_module_listing()  # a second call does not wrap it again
    assert not hasattr(backends.list_of_moto_modules.original, "original")
