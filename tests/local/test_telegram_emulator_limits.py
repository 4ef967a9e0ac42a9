"""The emulator enforces the Bot API's documented limits on what a bot sends, and sendDocument.

Each limit is tested just inside and just outside, through the unmodified pyTelegramBotAPI
client over real HTTP. The limits (https://core.telegram.org/bots/api): a message text of
1-4096 characters, a caption of 0-1024; a sendPhoto photo of at most 10 MB whose width and
height "must not exceed 10000 in total" with a "width and height ratio" of at most 20; a
sendDocument file of up to 50 MB.
"""

from __future__ import annotations

import io
import struct
import zlib

import pytest
import requests
from PIL import Image
from telebot import types
from telebot.apihelper import ApiTelegramException

from tests.support.images import sample_image

CHAT = 5151
MB = 1024 * 1024
DIMENSIONS = "Bad Request: PHOTO_INVALID_DIMENSIONS"


def jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(buffer, "JPEG", quality=40)
    return buffer.getvalue()


def jpeg_of_size(size: int) -> bytes:
    """A real, decodable JPEG of exactly `size` bytes (padding after its end marker)."""
    data = sample_image("zidane.jpg").read_bytes()
    return data + b"\0" * (size - len(data))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height (a pixel bomb): only its header can be read."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def refused(call) -> ApiTelegramException:
    with pytest.raises(ApiTelegramException) as caught:
        call()
    return caught.value


# --- sendMessage and captions ---------------------------------------------------------------


def test_message_text_of_4096_characters_is_sent_and_4097_is_refused(emulator, bot):
    assert bot.send_message(CHAT, "a" * 4096).text == "a" * 4096
    error = refused(lambda: bot.send_message(CHAT, "b" * 4097))
    assert (error.error_code, error.description) == (400, "Bad Request: message is too long")
    assert [len(m["text"]) for m in emulator.messages(CHAT)] == [4096]


@pytest.mark.parametrize("method", ["send_photo", "send_document"])
def test_caption_of_1024_characters_is_sent_and_1025_is_refused(emulator, bot, method):
    send = getattr(bot, method)
    image = jpeg(64, 48)
    assert send(CHAT, image, caption="c" * 1024).caption == "c" * 1024
    error = refused(lambda: send(CHAT, image, caption="d" * 1025))
    assert (error.error_code, error.description) == (
        400,
        "Bad Request: message caption is too long",
    )
    assert [len(m["caption"]) for m in emulator.messages(CHAT)] == [1024]


# --- sendPhoto: bytes, then dimensions ------------------------------------------------------


def test_photo_of_exactly_10_mb_is_sent(emulator, bot):
    message = bot.send_photo(CHAT, jpeg_of_size(10 * MB), caption="ten")
    assert message.photo[-1].width == 1280
    assert [m["method"] for m in emulator.messages(CHAT)] == ["sendPhoto"]


def test_photo_one_byte_over_10_mb_is_refused_as_telegram_does(emulator, bot):
    error = refused(lambda: bot.send_photo(CHAT, jpeg_of_size(10 * MB + 1), caption="eleven"))
    assert error.error_code == 400
    assert error.description == (
        "Bad Request: file of size 10485761 bytes is too big for a photo; "
        "the maximum size is 10485760 bytes"
    )
    assert emulator.messages(CHAT) == []


@pytest.mark.parametrize(
    "width, height",
    [(9000, 1000), (1000, 9000), (2000, 100), (100, 2000)],
    ids=["sum-10000-wide", "sum-10000-tall", "ratio-20-wide", "ratio-20-tall"],
)
def test_photo_at_the_dimension_limits_is_sent(emulator, bot, width, height):
    message = bot.send_photo(CHAT, jpeg(width, height))
    largest = message.photo[-1]
    # Telegram keeps the aspect and scales the long side down to 2560.
    assert max(largest.width, largest.height) == min(max(width, height), 2560)
    assert len(emulator.messages(CHAT)) == 1


@pytest.mark.parametrize(
    "width, height",
    [(9001, 1000), (1000, 9001), (2001, 100), (100, 2001), (10000, 400)],
    ids=["sum-10001-wide", "sum-10001-tall", "ratio-20.01-wide", "ratio-20.01-tall", "10000x400"],
)
def test_photo_past_the_dimension_limits_is_refused(emulator, bot, width, height):
    error = refused(lambda: bot.send_photo(CHAT, jpeg(width, height), caption="too wide"))
    assert (error.error_code, error.description) == (400, DIMENSIONS)
    assert emulator.messages(CHAT) == []


def test_pixel_bomb_is_refused_by_its_header_without_decoding(emulator, bot):
    error = refused(lambda: bot.send_photo(CHAT, png_header_only(40000, 40000)))
    assert (error.error_code, error.description) == (400, DIMENSIONS)


def test_empty_photo_is_refused(bot):
    error = refused(lambda: bot.send_photo(CHAT, io.BytesIO(b"")))
    assert (error.error_code, error.description) == (400, "Bad Request: file must be non-empty")


def test_photo_resent_by_file_id_is_not_limited_again(emulator, bot):
    first = bot.send_photo(CHAT, jpeg(640, 480))
    again = bot.send_photo(CHAT, first.photo[-1].file_id, caption="again")
    assert again.photo[-1].width == 640


# --- sendDocument ---------------------------------------------------------------------------


def test_send_document_with_name_caption_and_reply(emulator, bot):
    user = emulator.send_text(CHAT, "hello")
    wide = jpeg(10000, 400)  # refused as a photo, fine as a document
    message = bot.send_document(
        CHAT,
        wide,
        caption="person: 1",
        visible_file_name="annotated.jpg",
        reply_parameters=types.ReplyParameters(message_id=user["message_id"]),
    )
    document = message.document
    assert (document.file_name, document.mime_type) == ("annotated.jpg", "image/jpeg")
    assert document.file_size == len(wide)
    assert message.caption == "person: 1"
    assert message.reply_to_message.message_id == user["message_id"]
    [recorded] = emulator.messages(CHAT)
    assert recorded == {
        "method": "sendDocument",
        "message_id": message.message_id,
        "date": message.date,
        "reply_to_message_id": user["message_id"],
        "caption": "person: 1",
        "document_url": f"/emulator/files/{document.file_id}",
    }
    served = requests.get(emulator.base_url + recorded["document_url"], timeout=10)
    assert served.headers["Content-Type"] == "image/jpeg"
    assert served.content == wide
    info = bot.get_file(document.file_id)
    assert bot.download_file(info.file_path) == wide


def test_send_document_types_unnamed_bytes_by_their_content(bot):
    assert bot.send_document(CHAT, jpeg(32, 32)).document.mime_type == "image/jpeg"
    other = bot.send_document(CHAT, b"%PDF-1.4 not an image").document
    assert (other.file_name, other.mime_type) == ("document", "application/octet-stream")


def test_send_document_by_file_id(emulator, bot):
    first = bot.send_document(CHAT, b"plain text", visible_file_name="notes.txt")
    again = bot.send_document(CHAT, first.document.file_id, caption="again")
    assert again.document.file_id == first.document.file_id
    assert (again.document.file_name, again.document.mime_type) == ("notes.txt", "text/plain")
    error = refused(lambda: bot.send_document(CHAT, "no-such-file-id"))
    assert error.description == "Bad Request: wrong file identifier/HTTP URL specified"
    assert [m["method"] for m in emulator.messages(CHAT)] == ["sendDocument"] * 2


@pytest.mark.slow  # two 50 MB uploads through werkzeug's development server: ~12 s here
def test_document_of_50_mb_is_sent_and_one_byte_more_is_too_large(emulator, bot):
    data = b"\0" * (50 * MB)
    assert bot.send_document(CHAT, data, visible_file_name="big.bin").document.file_size == 50 * MB
    error = refused(lambda: bot.send_document(CHAT, data + b"\0", visible_file_name="big.bin"))
    assert (error.error_code, error.description) == (413, "Request Entity Too Large")
    assert len(emulator.messages(CHAT)) == 1


def test_empty_document_is_refused(bot):
    error = refused(lambda: bot.send_document(CHAT, io.BytesIO(b""), visible_file_name="e.txt"))
    assert (error.error_code, error.description) == (400, "Bad Request: file must be non-empty")
