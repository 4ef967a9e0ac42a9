"""polybot's answer to an annotated image Telegram will not take as a photo, against the emulator.

The emulator enforces the Bot API's sendPhoto limits (10 MB, width + height <= 10000, aspect
ratio <= 20) and polybot talks to it through its own TelegramClient and the unmodified
pyTelegramBotAPI; AWS is moto in-process. The user must still get the annotated image (as a
document, with the caption), and the caption alone only when even that cannot be sent.
"""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image

from polybot.telegram import new_bot
from tests.support.emulator import running_emulator, telebot_pointed_at
from tests.support.images import sample_image

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "contracts"
CAPTION = "person: 2\nbus: 1"
MB = 1024 * 1024


@pytest.fixture(scope="module")
def emulator():
    with running_emulator() as handle:
        yield handle


@pytest.fixture
def bot(emulator):
    """A real TeleBot pointed at the emulator, in place of conftest's FakeBot."""
    emulator.reset()
    with telebot_pointed_at(emulator):
        yield new_bot(emulator.token)


@pytest.fixture
def answer(client, clients, aws, settings, emulator):
    """Store `image` as the annotated image of a DONE item, call /results, return the chat."""

    def run(image: bytes) -> list[dict]:
        with open(FIXTURES / "item_done.json") as handle:
            item = json.load(handle, parse_float=Decimal)
        clients.table.put_item(Item=item)
        aws.client("s3").put_object(
            Bucket=settings.images_bucket, Key=item["predicted_key"], Body=image
        )
        response = client.post("/results", query_string={"predictionId": item["prediction_id"]})
        assert response.status_code == 200, response.get_json()
        assert response.get_json() == {"status": "notified"}
        return emulator.messages(item["chat_id"])

    return run


def jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(buffer, "JPEG", quality=60)
    return buffer.getvalue()


def jpeg_of_size(size: int) -> bytes:
    """A real JPEG of exactly `size` bytes (padding after its end marker)."""
    data = sample_image("zidane.jpg").read_bytes()
    return data + b"\0" * (size - len(data))


def test_an_ordinary_annotated_image_is_a_photo(answer, emulator):
    image = jpeg(1280, 720)
    [sent] = answer(image)
    assert (sent["method"], sent["caption"]) == ("sendPhoto", CAPTION)


@pytest.mark.parametrize("width, height", [(10000, 400), (400, 10000), (2100, 100)])
def test_a_very_wide_or_tall_annotated_image_comes_as_a_document(answer, emulator, width, height):
    image = jpeg(width, height)
    [sent] = answer(image)  # the emulator refused sendPhoto: nothing else was recorded
    assert (sent["method"], sent["caption"]) == ("sendDocument", CAPTION)
    assert "photo_url" not in sent
    assert emulator.sent_file(sent) == image  # every pixel, not a thumbnail


def test_an_annotated_image_of_exactly_10_mb_is_still_a_photo(answer, emulator):
    [sent] = answer(jpeg_of_size(10 * MB))
    assert (sent["method"], sent["caption"]) == ("sendPhoto", CAPTION)


def test_an_annotated_image_over_10_mb_comes_as_a_document(answer, emulator):
    image = jpeg_of_size(10 * MB + 1)
    [sent] = answer(image)
    assert (sent["method"], sent["caption"]) == ("sendDocument", CAPTION)
    assert emulator.sent_file(sent) == image


def test_an_image_refused_as_a_document_too_leaves_the_caption_alone(answer, emulator):
    emulator.fault("sendDocument", 400)
    [sent] = answer(jpeg(10000, 400))
    assert (sent["method"], sent["text"]) == ("sendMessage", CAPTION)
