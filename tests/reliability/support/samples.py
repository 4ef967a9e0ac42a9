"""Awkward inputs, made in memory: every image format and shape a user might send, and worse."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

from tests.support.images import sample_image


def bus() -> Image.Image:
    return Image.open(sample_image("bus.jpg")).convert("RGB")


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png_alpha() -> bytes:
    image = bus().convert("RGBA")
    image.putalpha(Image.linear_gradient("L").resize(image.size))
    return encode(image, "PNG")


def png_16bit() -> bytes:
    gray = np.asarray(bus().convert("L"), dtype=np.uint16) * 257
    return encode(Image.fromarray(gray), "PNG")


def animated_gif() -> bytes:
    frames = [bus().resize((405, 540)), bus().resize((405, 540)).transpose(Image.FLIP_LEFT_RIGHT)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=200, loop=0)


def exif_rotated() -> bytes:
    """The pixels stored sideways with EXIF Orientation=6, as phone cameras write them."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(bus().transpose(Image.ROTATE_90), "JPEG", exif=exif.tobytes())


def stripe(width: int, height: int) -> bytes:
    return encode(bus().resize((width, height)), "PNG")


def pixel_bomb(side: int = 30_000) -> bytes:
    """A valid PNG header for side×side pixels (900 Mpx) with almost no data: a few KiB."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit grayscale
    row = b"\x00" + b"\x00" * ((side + 7) // 8)
    data = zlib.compress(row * 64, 9)  # only the first rows; the rest is "missing"
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def truncated_jpeg() -> bytes:
    data = sample_image("bus.jpg").read_bytes()
    return data[: len(data) // 3]


IMAGES = {
    # name: (bytes factory, file name, MIME type)
    "png-with-alpha": (png_alpha, "alpha.png", "image/png"),
    "grayscale-jpeg": (lambda: encode(bus().convert("L"), "JPEG"), "gray.jpg", "image/jpeg"),
    "palette-png": (lambda: encode(bus().convert("P"), "PNG"), "palette.png", "image/png"),
    "cmyk-jpeg": (lambda: encode(bus().convert("CMYK"), "JPEG"), "cmyk.jpg", "image/jpeg"),
    "progressive-jpeg": (
        lambda: encode(bus(), "JPEG", progressive=True),
        "progressive.jpg",
        "image/jpeg",
    ),
    "16-bit-png": (png_16bit, "deep.png", "image/png"),
    "animated-gif": (animated_gif, "anim.gif", "image/gif"),
    "webp": (lambda: encode(bus(), "WEBP"), "bus.webp", "image/webp"),
    "bmp": (lambda: encode(bus(), "BMP"), "bus.bmp", "image/bmp"),
    "tiff": (lambda: encode(bus(), "TIFF"), "bus.tiff", "image/tiff"),
    "1x1": (lambda: stripe(1, 1), "dot.png", "image/png"),
    "very-wide": (lambda: stripe(8000, 24), "wide.png", "image/png"),
    "very-tall": (lambda: stripe(24, 8000), "tall.png", "image/png"),
    "exif-rotated-document": (exif_rotated, "rotated.jpg", "image/jpeg"),
}
