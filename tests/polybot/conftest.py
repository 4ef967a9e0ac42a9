"""Fixture chain for polybot's unit tests: moto mocks -> clients -> resources -> app."""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace

import boto3
import pytest
from moto import mock_aws

from polybot.app import create_app
from polybot.clients import Clients
from polybot.settings import Settings
from polybot.telegram import TelegramClient
from tests.polybot.fakes import FakeBot

WEBHOOK_SECRET = "test-webhook-secret-0123456789"
CHAT_ID = 5550001


@pytest.fixture
def aws():
    with mock_aws():
        yield boto3.session.Session(region_name="us-east-1")


@pytest.fixture
def names():
    suffix = uuid.uuid4().hex[:10]
    return {
        "bucket": f"polybot-test-{suffix}",
        "queue": f"polybot-jobs-{suffix}",
        "table": f"polybot-predictions-{suffix}",
    }


@pytest.fixture
def resources(aws, names):
    aws.client("s3").create_bucket(Bucket=names["bucket"])
    queue_url = aws.client("sqs").create_queue(QueueName=names["queue"])["QueueUrl"]
    aws.client("dynamodb").create_table(
        TableName=names["table"],
        KeySchema=[{"AttributeName": "prediction_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "prediction_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return {**names, "queue_url": queue_url}


@pytest.fixture
def settings(resources):
    return Settings(
        images_bucket=resources["bucket"],
        jobs_queue_url=resources["queue_url"],
        predictions_table=resources["table"],
        telegram_token_secret_id="polybot/telegram-token",
    )


@pytest.fixture
def bot():
    return FakeBot()


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def clients(aws, resources, bot, sleeps):
    return Clients(
        s3=aws.client("s3"),
        sqs=aws.client("sqs"),
        table=aws.resource("dynamodb").Table(resources["table"]),
        telegram=TelegramClient(bot, sleep=sleeps.append),
        webhook_secret=WEBHOOK_SECRET,
    )


@pytest.fixture
def app(settings, clients):
    return create_app(settings, clients)


class Atomic:
    """A moto-backed client whose calls run one at a time.

    moto's in-memory backends are not thread-safe: two concurrent writes to one DynamoDB item
    can fail inside moto ("dictionary changed size during iteration"), where DynamoDB's
    single-item operations are atomic. Serialising each call gives the concurrency tests the
    real services' guarantee, while polybot's own steps (between the calls) still interleave:
    the tests then test polybot's conditional writes, not moto's locking.
    """

    def __init__(self, target, lock: threading.Lock) -> None:
        self._target = target
        self._lock = lock

    def __getattr__(self, name):
        attribute = getattr(self._target, name)
        if not callable(attribute):
            return attribute

        def one_at_a_time(*args, **kwargs):
            with self._lock:
                return attribute(*args, **kwargs)

        return one_at_a_time


@pytest.fixture
def concurrent_app(settings, clients):
    """The app for tests that call it from several threads at once (see Atomic)."""
    lock = threading.Lock()
    atomic = replace(
        clients,
        s3=Atomic(clients.s3, lock),
        sqs=Atomic(clients.sqs, lock),
        table=Atomic(clients.table, lock),
    )
    return create_app(settings, atomic)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def jobs(aws, resources):
    """Drain the jobs queue: returns the bodies of every message in it."""

    def drain() -> list[str]:
        sqs, bodies = aws.client("sqs"), []
        while True:
            got = sqs.receive_message(QueueUrl=resources["queue_url"], MaxNumberOfMessages=10)
            if not got.get("Messages"):
                return bodies
            for message in got["Messages"]:
                bodies.append(message["Body"])
                sqs.delete_message(
                    QueueUrl=resources["queue_url"], ReceiptHandle=message["ReceiptHandle"]
                )

    return drain


def photo_update(update_id: int, message_id: int, file_id: str = "photo-1", chat_id=CHAT_ID):
    return {
        "update_id": update_id,
        "message": {
            "message_id": message_id,
            "date": 1767000000,
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "Ada"},
            "photo": [
                {"file_id": f"{file_id}-small", "file_unique_id": "s", "width": 90, "height": 60},
                {"file_id": file_id, "file_unique_id": "b", "width": 1280, "height": 853},
                {"file_id": f"{file_id}-mid", "file_unique_id": "m", "width": 320, "height": 213},
            ],
        },
    }


def message_update(update_id: int, message_id: int, chat_id=CHAT_ID, **fields):
    message = {
        "message_id": message_id,
        "date": 1767000000,
        "chat": {"id": chat_id, "type": "private"},
        **fields,
    }
    return {"update_id": update_id, "message": message}


def post_update(client, update, secret: str | None = WEBHOOK_SECRET, **kwargs):
    headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
    if update is not None:
        kwargs["json"] = update
    return client.post("/telegram/webhook", headers=headers, **kwargs)
