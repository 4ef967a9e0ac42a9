"""The bench's AWS proxy counts what boto3 really sends, per service and operation, and passes
the answers through unchanged (figure 8's "AWS calls per photo" rests on it)."""

from __future__ import annotations

import uuid

import boto3

from bench.awsproxy import aws_proxy


def _client(name: str, url: str):
    return boto3.Session(region_name="us-east-1").client(name, endpoint_url=url)


def test_counts_each_request_by_operation_and_passes_the_answers_through(moto_server):
    with aws_proxy(moto_server, {"s3": 1.0, "sqs": 1.0, "dynamodb": 1.0}) as proxy:
        sqs, s3 = _client("sqs", proxy.url), _client("s3", proxy.url)
        name = f"proxy-{uuid.uuid4().hex[:8]}"
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="hello")
        (message,) = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)["Messages"]
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        s3.create_bucket(Bucket=name)
        body = bytes(range(256)) * 1024  # larger than one TCP segment, binary
        s3.put_object(Bucket=name, Key="k", Body=body)
        fetched = s3.get_object(Bucket=name, Key="k")["Body"].read()
        _client("dynamodb", proxy.url).list_tables()
        counts = proxy.take_counts()
    assert message["Body"] == "hello"
    assert fetched == body
    assert counts == {
        "sqs.CreateQueue": 1,
        "sqs.SendMessage": 1,
        "sqs.ReceiveMessage": 1,
        "sqs.DeleteMessage": 1,
        "s3.CreateBucket": 1,
        "s3.PutObject": 1,
        "s3.GetObject": 1,
        "dynamodb.ListTables": 1,
    }
    assert proxy.take_counts() == {}  # taken: the next window starts empty
