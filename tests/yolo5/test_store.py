"""The worker's writes on the prediction item, against the contract fixtures."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from common.contracts import FAILED, Failure, FailureReason, Prediction
from tests.yolo5.conftest import WORKER_BUILD
from yolo5.store import PredictionStore

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "contracts"


def test_failed_item_has_the_keys_and_types_of_the_contract_fixture(aws):
    expected = json.loads((FIXTURES / "item_failed.json").read_text(), parse_float=Decimal)
    job = aws.put_photo(b"jpeg")
    failure = Failure(FailureReason.TOO_LARGE, size_bytes=expected["failure_detail"]["size_bytes"])

    assert (
        PredictionStore(aws.table, WORKER_BUILD).mark_failed(job.prediction_id, failure, job)
        is True
    )

    item = aws.item(job.prediction_id)
    assert set(item) == set(expected)
    for key, value in expected.items():
        assert isinstance(
            item[key], Decimal if isinstance(value, int | Decimal) else type(value)
        ), key
    assert item["failure_reason"] == expected["failure_reason"]
    assert item["failure_detail"] == expected["failure_detail"]
    prediction = Prediction.from_item(item)
    assert (prediction.status, prediction.failure) == (FAILED, failure)
    # A failed item names its worker too: /version learns from every answer.
    assert prediction.worker == WORKER_BUILD


def test_a_failure_without_measures_writes_no_detail(aws):
    job = aws.put_photo(b"jpeg", pending=False)
    store = PredictionStore(aws.table, WORKER_BUILD)
    assert store.mark_failed(job.prediction_id, Failure(FailureReason.GONE), job) is True
    item = aws.item(job.prediction_id)
    assert item["failure_reason"] == "GONE" and "failure_detail" not in item
    assert item["chat_id"] == job.chat_id  # the job completes an item polybot never wrote
