"""polybot over real HTTP, against a real moto server and the Telegram emulator.

The unmodified pyTelegramBotAPI client talks to the emulator; boto3 reaches moto through
AWS_ENDPOINT_URL, exactly as in local mode.
"""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
import requests

from common.contracts import DONE, PENDING, Job, original_key, predicted_key
from polybot import replies
from polybot.app import create_app
from polybot.intake import prediction_id_for
from polybot.register_webhook import register
from polybot.settings import Settings
from tests.support.emulator import TEST_TOKEN, running_emulator
from tests.support.images import sample_image
from tests.support.servers import serve_wsgi

pytestmark = pytest.mark.slow
POLYBOT_SHA = "c0ffee0" + "1" * 33


@pytest.fixture
def aws(moto_server, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    session = boto3.session.Session(region_name="us-east-1")
    suffix = uuid.uuid4().hex[:10]
    names = {"bucket": f"polybot-it-{suffix}", "table": f"polybot-it-{suffix}"}
    session.client("s3").create_bucket(Bucket=names["bucket"])
    names["queue_url"] = session.client("sqs").create_queue(QueueName=f"polybot-it-{suffix}")[
        "QueueUrl"
    ]
    session.client("dynamodb").create_table(
        TableName=names["table"],
        KeySchema=[{"AttributeName": "prediction_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "prediction_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    names["secret"] = session.client("secretsmanager").create_secret(
        Name=f"polybot/it-{suffix}", SecretString=json.dumps({"TELEGRAM_TOKEN": TEST_TOKEN})
    )["ARN"]
    return session, names


@pytest.fixture
def stack(aws):
    """Emulator + polybot (built from settings alone, as gunicorn does) + registered webhook."""
    session, names = aws
    with running_emulator(TEST_TOKEN) as emulator:
        settings = Settings.from_env(
            {
                "IMAGES_BUCKET": names["bucket"],
                "JOBS_QUEUE_URL": names["queue_url"],
                "PREDICTIONS_TABLE": names["table"],
                "TELEGRAM_TOKEN_SECRET_ID": names["secret"],
                "TELEGRAM_API_URL": emulator.base_url,
                "APP_VERSION": POLYBOT_SHA,
            }
        )
        app = create_app(settings)
        clients = app.extensions["polybot"]["clients"]
        with serve_wsgi(app) as polybot_url:
            register(clients.telegram, polybot_url, clients.webhook_secret, 10)
            yield session, names, emulator, polybot_url


def test_photo_to_job_to_annotated_answer(stack):
    session, names, emulator, polybot_url = stack
    webhook = emulator.webhook()
    assert webhook["url"] == f"{polybot_url}/telegram/webhook"
    assert webhook["has_secret"] and webhook["allowed_updates"] == ["message"]

    chat_id = 7001
    data = sample_image("bus.jpg").read_bytes()
    delivered = emulator.send_photo(chat_id, data)
    assert delivered["webhook_status"] == 200

    [body] = [
        m["Body"]
        for m in session.client("sqs").receive_message(
            QueueUrl=names["queue_url"], MaxNumberOfMessages=10
        )["Messages"]
    ]
    job = Job.from_json(body)
    assert job.chat_id == chat_id and job.bucket == names["bucket"]
    assert job.image_key == original_key(chat_id, job.prediction_id)
    assert job.prediction_id == prediction_id_for(chat_id, job.message_id)
    s3 = session.client("s3")
    assert s3.head_object(Bucket=names["bucket"], Key=job.image_key)["ContentLength"] > 0
    table = session.resource("dynamodb").Table(names["table"])
    item = table.get_item(Key={"prediction_id": job.prediction_id})["Item"]
    assert item["status"] == PENDING
    [ack] = emulator.wait_for_messages(chat_id, 1)
    assert (ack["method"], ack["text"]) == ("sendMessage", replies.RECEIVED)

    # The worker's side: annotated image, DONE item, then the callback.
    s3.put_object(Bucket=names["bucket"], Key=predicted_key(job.prediction_id), Body=data)
    table.update_item(
        Key={"prediction_id": job.prediction_id},
        UpdateExpression="SET #s = :done, #c = :counts, predicted_key = :key",
        ExpressionAttributeNames={"#s": "status", "#c": "counts"},
        ExpressionAttributeValues={
            ":done": DONE,
            ":counts": {"bus": 1, "person": 4},
            ":key": predicted_key(job.prediction_id),
        },
    )
    url = f"{polybot_url}/results"
    answer = requests.post(url, params={"predictionId": job.prediction_id}, timeout=30)
    assert answer.status_code == 200
    again = requests.post(url, params={"predictionId": job.prediction_id}, timeout=30)
    assert again.json() == {"status": "already notified"}
    messages = emulator.wait_for_messages(chat_id, 2)
    assert len(messages) == 2
    assert messages[1]["method"] == "sendPhoto"
    assert messages[1]["caption"] == "person: 4\nbus: 1"


def test_text_over_http_gets_the_help(stack):
    _, _, emulator, _ = stack
    chat_id = 7002
    assert emulator.send_text(chat_id, "/start")["webhook_status"] == 200
    [help_reply] = emulator.wait_for_messages(chat_id, 1)
    assert help_reply["text"] == replies.HELP


def test_version_over_http_before_and_after_an_answered_item(stack):
    session, names, emulator, polybot_url = stack
    chat_id = 7004
    emulator.send_text(chat_id, "/version")
    [before] = emulator.wait_for_messages(chat_id, 1)
    assert before["text"] == "polybot c0ffee0 · worker: not seen yet"

    pid = str(uuid.uuid4())
    session.resource("dynamodb").Table(names["table"]).put_item(
        Item={
            "prediction_id": pid,
            "chat_id": chat_id,
            "status": "FAILED",
            "failure_reason": "GONE",
            "model": "yolov5s",
            "backend": "torch",
            "version": "abcdef0" + "2" * 33,
        }
    )
    answer = requests.post(f"{polybot_url}/results", params={"predictionId": pid}, timeout=30)
    assert answer.status_code == 200
    emulator.send_text(chat_id, "/version")

    after = emulator.wait_for_messages(chat_id, 3)[-1]
    assert after["text"] == "polybot c0ffee0 · worker abcdef0 · yolov5s (torch)"


def test_429_on_send_photo_is_retried_after_retry_after(stack):
    session, names, emulator, polybot_url = stack
    chat_id = 7003
    pid = str(uuid.uuid4())
    s3 = session.client("s3")
    annotated = sample_image("zidane.jpg").read_bytes()
    s3.put_object(Bucket=names["bucket"], Key=predicted_key(pid), Body=annotated)
    session.resource("dynamodb").Table(names["table"]).put_item(
        Item={"prediction_id": pid, "chat_id": chat_id, "status": DONE, "counts": {"dog": 2}}
    )
    emulator.fault("sendPhoto", 429, count=1, retry_after=1)
    answer = requests.post(f"{polybot_url}/results", params={"predictionId": pid}, timeout=60)
    assert answer.status_code == 200
    [photo] = emulator.wait_for_messages(chat_id, 1)
    assert (photo["method"], photo["caption"]) == ("sendPhoto", "dog: 2")
