"""Turning uploaded bytes into Telegram's media objects: PhotoSize lists and Documents.

Telegram stores every photo as several JPEG sizes and a client picks one; polybot must take
the largest, so the emulator makes the list realistic: small thumbnails first, largest last.
"""

from __future__ import annotations

import io
import math
import mimetypes
import warnings
from functools import partial
from pathlib import PurePosixPath

from PIL import Image, ImageOps, UnidentifiedImageError

from .state import EmulatorState, StoredFile

THUMBNAIL_SIDES = (90, 320, 800)
# Telegram keeps photos up to this long side; bigger ones are scaled down.
MAX_PHOTO_SIDE = 2560
_ORIENTATION = 0x0112


class NotAnImage(ValueError):
    """Bytes Pillow cannot decode: a Telegram client would not send them as a photo."""


# What Pillow raises for bytes that are not an image it can open (or are a decompression bomb).
UNDECODABLE = (
    UnidentifiedImageError,
    OSError,
    SyntaxError,
    ValueError,
    Image.DecompressionBombError,
)


def _decode(data: bytes) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except UNDECODABLE as exc:
        raise NotAnImage(f"not a decodable image: {type(exc).__name__}") from None
    return image


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the image's header alone: no pixel is decoded, so a bomb is safe.

    None when Pillow refuses even to open it as a decompression bomb (more than twice
    Image.MAX_IMAGE_PIXELS): far past any photo limit, since width + height <= 10000 allows
    25 megapixels at most. Raises NotAnImage for bytes that are no image Pillow knows.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                return image.size
        except Image.DecompressionBombError:
            return None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise NotAnImage(f"not a decodable image: {type(exc).__name__}") from None


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=87)
    return buffer.getvalue()


def _photo_size(stored: StoredFile, width: int, height: int) -> dict:
    size = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "width": width,
        "height": height,
    }
    # file_size is optional in the Bot API; a lazily made thumbnail has none yet.
    if stored.content is not None:
        size["file_size"] = stored.size
    return size


def _thumbnail(data: bytes, side: int) -> bytes:
    image = ImageOps.exif_transpose(_decode(data))
    image.thumbnail((side, side))
    return _jpeg(image)


def _scaled(size: tuple[int, int], side: int) -> tuple[int, int]:
    """The size Image.thumbnail((side, side)) gives (same rounding), without making it."""
    width, height = size
    aspect = width / height

    def round_aspect(number: float, key) -> int:
        return max(min(math.floor(number), math.ceil(number), key=key), 1)

    if aspect >= 1:
        return side, round_aspect(side / aspect, key=lambda n: abs(aspect - side / n) if n else 1)
    return round_aspect(side * aspect, key=lambda n: abs(aspect - n / side)), side


def store_photo(state: EmulatorState, data: bytes) -> list[dict]:
    """Store a photo as thumbnails plus the full size; returns PhotoSizes, largest last.

    The full size keeps the original bytes when it is a JPEG small enough, so a test can
    compare what polybot downloaded with what it sent; anything else is re-encoded as JPEG,
    as Telegram does.
    """
    image = _decode(data)
    # Telegram applies the EXIF orientation; the original bytes are kept only when upright.
    keep_original = image.format == "JPEG" and image.getexif().get(_ORIENTATION, 1) == 1
    image = ImageOps.exif_transpose(image) or image
    long_side = max(image.size)
    sizes = []
    for side in THUMBNAIL_SIDES:
        if side >= long_side:
            break
        stored = state.store_file(
            None, "photos", "jpg", "image/jpeg", render=partial(_thumbnail, data, side)
        )
        sizes.append(_photo_size(stored, *_scaled(image.size, side)))
    if long_side > MAX_PHOTO_SIDE:
        image = image.copy()
        image.thumbnail((MAX_PHOTO_SIDE, MAX_PHOTO_SIDE))
        full = _jpeg(image)
    else:
        full = data if keep_original else _jpeg(image)
    stored = state.store_file(full, "photos", "jpg", "image/jpeg")
    sizes.append(_photo_size(stored, *image.size))
    return sizes


def guess_mime(filename: str) -> str:
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def sniff_mime(data: bytes, filename: str) -> str:
    """The file name's MIME type, else the image format Pillow reads in the header.

    Telegram detects a sent document's type from its content; an upload without a telling
    name (pyTelegramBotAPI names bytes after the field) is still an image/jpeg then.
    """
    guessed = guess_mime(filename)
    if guessed != "application/octet-stream":
        return guessed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                return Image.MIME.get(image.format or "", guessed)
        except UNDECODABLE:
            return guessed


def document_of(stored: StoredFile, filename: str) -> dict:
    """The Bot API Document object for a stored file."""
    return {
        "file_name": filename,
        "mime_type": stored.mime_type,
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": stored.size,
    }


def store_document(
    state: EmulatorState, data: bytes, filename: str, mime_type: str | None = None
) -> dict:
    """Store any bytes as a Document; the MIME type may be given (to lie, as clients can)."""
    ext = PurePosixPath(filename).suffix.lstrip(".").lower()
    ext = ext if ext.isalnum() and len(ext) <= 5 else "bin"
    mime = mime_type or guess_mime(filename)
    stored = state.store_file(data, "documents", ext, mime)
    stored.file_name = filename
    return document_of(stored, filename)
