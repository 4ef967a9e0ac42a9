import json
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from common import contracts
from common.contracts import (
    Failure,
    FailureReason,
    InvalidJob,
    ItemAttr,
    Job,
    Prediction,
    WorkerBuild,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "contracts"


def load_job_fixture() -> dict:
    return json.loads((FIXTURES / "job_v1.json").read_text())


def test_fixture_job_parses_and_round_trips():
    data = load_job_fixture()
    job = Job.from_json(json.dumps(data))
    assert job.prediction_id == data["prediction_id"]
    assert json.loads(job.to_json()) == data


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"v": 2}, "unsupported job version"),
        ({"v": None}, "unsupported job version"),
        ({"prediction_id": "not-a-uuid"}, "prediction_id"),
        ({"chat_id": "123"}, "chat_id"),
        ({"chat_id": True}, "chat_id"),
        ({"message_id": 1.5}, "message_id"),
        ({"bucket": ""}, "bucket"),
        ({"image_key": "originals/1/other.jpg"}, "image_key"),
        ({"image_key": "../../etc/passwd"}, "image_key"),
    ],
)
def test_job_rejects_contract_violations(change, reason):
    data = {**load_job_fixture(), **change}
    with pytest.raises(InvalidJob, match=reason):
        Job.from_json(json.dumps(data))


@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]", b"null", "\u00ff"])
def test_job_rejects_bodies_that_are_not_objects(body):
    with pytest.raises(InvalidJob):
        Job.from_json(body)


def test_keys_follow_the_design():
    pid = str(uuid.uuid4())
    assert contracts.is_prediction_id(pid)
    assert contracts.original_key(7, pid, "png") == f"originals/7/{pid}.png"
    assert contracts.predicted_key(pid) == f"predictions/{pid}.jpg"
    with pytest.raises(ValueError):
        contracts.original_key(7, pid, "../x")


def test_item_fixtures_use_known_statuses_and_keys():
    for name, status in (
        ("item_done.json", contracts.DONE),
        ("item_failed.json", contracts.FAILED),
        ("item_failed_legacy.json", contracts.FAILED),
        ("item_done_no_reply.json", contracts.DONE),
    ):
        item = json.loads((FIXTURES / name).read_text(), parse_float=Decimal)
        assert item["status"] == status
        assert contracts.is_prediction_id(item["prediction_id"])
        assert item["original_key"].startswith(f"originals/{item['chat_id']}/")
    done = json.loads((FIXTURES / "item_done.json").read_text(), parse_float=Decimal)
    assert done["counts"] == contracts.counts_of(done["labels"])


def load_item_fixture(name: str) -> dict:
    """As DynamoDB hands an item back: every number a Decimal."""
    return json.loads((FIXTURES / name).read_text(), parse_float=Decimal, parse_int=Decimal)


def test_item_fixtures_use_only_the_contracts_attribute_names():
    known = {value for name, value in vars(ItemAttr).items() if name.isupper()}
    for name in (
        "item_done.json",
        "item_failed.json",
        "item_failed_legacy.json",
        "item_done_no_reply.json",
    ):
        assert set(load_item_fixture(name)) <= known, name


def test_the_no_reply_fixture_reads_as_no_reply_to_chat_0():
    prediction = Prediction.from_item(load_item_fixture("item_done_no_reply.json"))
    assert prediction.reply is False
    assert prediction.chat_id == contracts.NO_REPLY_CHAT_ID == 0
    assert prediction.counts == {"person": 1, "bus": 1}


@pytest.mark.parametrize("reply", [None, True, "false", 0, Decimal(0)])
def test_only_an_explicit_false_turns_the_reply_off(reply):
    item = load_item_fixture("item_done.json")
    if reply is not None:
        item[ItemAttr.REPLY] = reply
    assert "reply" not in load_item_fixture("item_done.json")
    assert Prediction.from_item(item).reply is True


def test_failed_fixture_reads_as_a_typed_failure():
    prediction = Prediction.from_item(load_item_fixture("item_failed.json"))
    assert prediction.status == contracts.FAILED
    assert prediction.failure == Failure(FailureReason.TOO_LARGE, size_bytes=30 * 1024 * 1024)
    assert prediction.legacy_error is None


@pytest.mark.parametrize("name", ["item_done.json", "item_failed.json", "item_done_no_reply.json"])
def test_a_finished_item_names_the_worker_build_that_finished_it(name):
    item = load_item_fixture(name)
    worker = Prediction.from_item(item).worker
    assert worker == WorkerBuild("yolov5n", "onnx", item["version"])
    assert worker.to_item() == {k: item[k] for k in ("model", "backend", "version")}


def test_an_item_no_worker_stamped_has_no_worker_build_and_a_missing_part_is_unknown():
    assert Prediction.from_item(load_item_fixture("item_failed_legacy.json")).worker is None
    item = {**load_item_fixture("item_done.json"), "backend": None}
    del item["version"]
    assert Prediction.from_item(item).worker == WorkerBuild("yolov5n", "unknown", "unknown")


def test_an_item_from_before_failure_codes_keeps_its_text():
    prediction = Prediction.from_item(load_item_fixture("item_failed_legacy.json"))
    assert prediction.failure is None
    assert prediction.legacy_error == "The file is not an image I can read."


@pytest.mark.parametrize(
    "failure",
    [
        Failure(FailureReason.GONE),
        Failure(FailureReason.TOO_LARGE, size_bytes=123),
        Failure(FailureReason.TOO_MANY_PIXELS, width=8000, height=6000),
    ],
)
def test_failure_round_trips_through_item_attributes(failure):
    stored = json.loads(json.dumps(failure.to_item()), parse_int=Decimal)
    assert Failure.from_item(stored) == failure
    assert set(failure.to_item()) <= {ItemAttr.FAILURE_REASON, ItemAttr.FAILURE_DETAIL}


def test_an_unknown_failure_code_reads_as_no_failure():
    assert Failure.from_item({ItemAttr.FAILURE_REASON: "SOME_FUTURE_REASON"}) is None
    assert Failure.from_item({}) is None


def test_done_fixture_reads_with_int_counts_and_ids():
    prediction = Prediction.from_item(load_item_fixture("item_done.json"))
    assert prediction.counts == {"person": 2, "bus": 1}
    assert all(type(n) is int for n in prediction.counts.values())
    assert type(prediction.chat_id) is int and prediction.message_id is None
    assert prediction.predicted_key == contracts.predicted_key(prediction.prediction_id)


def test_counts_are_most_frequent_first_then_by_name():
    labels = [{"class": c} for c in ["tie", "person", "bus", "person", "car", "car", "person"]]
    assert list(contracts.counts_of(labels).items()) == [
        ("person", 3),
        ("car", 2),
        ("bus", 1),
        ("tie", 1),
    ]


def test_utc_now_iso_is_utc_with_z():
    stamp = contracts.utc_now_iso()
    assert stamp.endswith("Z") and "T" in stamp


def test_statuses_are_stored_as_the_plain_strings_they_always_were():
    from boto3.dynamodb.types import TypeSerializer

    from common.contracts import Status

    assert [status.value for status in Status] == ["PENDING", "DONE", "FAILED"]
    assert TypeSerializer().serialize(Status.DONE) == {"S": "DONE"}
    assert [status.finished for status in Status] == [False, True, True]
