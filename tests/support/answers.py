"""What polybot answers a chat, in its own words: tests compare the bot's messages with
polybot.replies applied to the chat's prediction items, not with fragments of the wording."""

from __future__ import annotations

from boto3.dynamodb.conditions import Attr

from common.contracts import DONE, FAILED, ItemAttr, Prediction
from polybot import replies


def chat_predictions(table, chat_id: int) -> list[Prediction]:
    """The chat's prediction items, as polybot reads them back."""
    kwargs = {"FilterExpression": Attr(ItemAttr.CHAT_ID).eq(chat_id)}
    found: list[Prediction] = []
    while True:
        page = table.scan(**kwargs)
        found += [Prediction.from_item(item) for item in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return found
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def answer(prediction: Prediction) -> str | None:
    """The caption (DONE) or text (FAILED) polybot/results.py sends for the prediction;
    None while it is unfinished."""
    if prediction.status == DONE:
        return replies.caption(prediction.counts)
    if prediction.status == FAILED:
        return replies.failed(prediction.failure, prediction.legacy_error)
    return None


def answers(table, chat_id: int) -> list[str]:
    """The answers of the chat's finished predictions."""
    return [a for p in chat_predictions(table, chat_id) if (a := answer(p)) is not None]
