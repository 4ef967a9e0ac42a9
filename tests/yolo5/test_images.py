"""Defensive decoding: every mode and format to RGB, every bad input to a readable refusal."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from common.contracts import Failure, FailureReason
from tests.support.images import sample_image
from yolo5.errors import PermanentJobError
from yolo5.images import decode_rgb

LIMIT_BYTES = 10_000_000
LIMIT_PIXELS = 5_000_000


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def decode(data: bytes) -> np.ndarray:
    return decode_rgb(data, LIMIT_BYTES, LIMIT_PIXELS)


def gradient(mode: str, size=(40, 30)) -> Image.Image:
    return Image.linear_gradient("L").resize(size).convert(mode)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("rgba_png", lambda: encode(gradient("RGBA"), "PNG")),
        ("l_png", lambda: encode(gradient("L"), "PNG")),
        ("p_png", lambda: encode(gradient("RGB").convert("P"), "PNG")),
        ("cmyk_jpeg", lambda: encode(gradient("CMYK"), "JPEG")),
        ("la_png", lambda: encode(gradient("LA"), "PNG")),
        ("one_bit_png", lambda: encode(gradient("1"), "PNG")),
        ("webp", lambda: encode(gradient("RGB"), "WEBP")),
        ("bmp", lambda: encode(gradient("RGB"), "BMP")),
        ("tiff", lambda: encode(gradient("RGB"), "TIFF")),
        ("jpeg", lambda: encode(gradient("RGB"), "JPEG")),
    ],
)
def test_modes_and_formats_become_rgb(name, data):
    array = decode(data())
    assert array.shape == (30, 40, 3), name
    assert array.dtype == np.uint8
    assert array.flags["C_CONTIGUOUS"] and array.flags["WRITEABLE"]


def test_16_bit_png_is_scaled_not_clipped():
    wide = np.linspace(0, 65535, 40 * 30, dtype=np.uint16).reshape(30, 40)
    image = Image.fromarray(wide)  # mode I;16
    assert image.mode.startswith("I;16")
    array = decode(encode(image, "PNG"))
    assert array.shape == (30, 40, 3)
    assert array[-1, -1, 0] == 255 and array[0, 0, 0] == 0
    assert 100 < array[15, 20, 0] < 160  # mid-grey, not clipped to white


def test_transparent_pixels_become_white():
    image = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert decode(encode(image, "PNG"))[0, 0].tolist() == [255, 255, 255]


def test_animated_gif_uses_the_first_frame():
    red, blue = Image.new("RGB", (8, 8), "red"), Image.new("RGB", (8, 8), "blue")
    data = encode(red, "GIF", save_all=True, append_images=[blue], duration=100, loop=0)
    pixel = decode(data)[4, 4].tolist()
    assert pixel[0] > 200 and pixel[2] < 50


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (40, 20), "green")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    array = decode(encode(image, "JPEG", exif=exif.tobytes()))
    assert array.shape == (40, 20, 3)


@pytest.mark.parametrize("size", [(1, 1), (4000, 3)], ids=["1x1", "very_wide"])
def test_tiny_and_extreme_aspect_images(size):
    assert decode(encode(Image.new("RGB", size, "white"), "PNG")).shape == (size[1], size[0], 3)


def test_real_photo():
    assert decode(sample_image("bus.jpg").read_bytes()).shape == (1080, 810, 3)


def test_pixel_bomb_is_refused_before_decoding():
    # A 1-bit 20000x20000 PNG compresses to a few KB but would be 1.2 GB as RGB.
    bomb = encode(Image.new("1", (20000, 20000)), "PNG")
    assert len(bomb) < 200_000
    with pytest.raises(PermanentJobError) as refused:
        decode(bomb)
    assert refused.value.failure.reason is FailureReason.TOO_MANY_PIXELS


def test_pixel_limit_quotes_the_dimensions():
    with pytest.raises(PermanentJobError) as refused:
        decode_rgb(encode(Image.new("RGB", (200, 100)), "PNG"), 10**6, 200 * 100 - 1)
    assert refused.value.failure == Failure(FailureReason.TOO_MANY_PIXELS, width=200, height=100)


def test_byte_limit():
    data = encode(gradient("RGB"), "PNG")
    with pytest.raises(PermanentJobError) as refused:
        decode_rgb(data, 100, LIMIT_PIXELS)
    assert refused.value.failure == Failure(FailureReason.TOO_LARGE, size_bytes=len(data))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", FailureReason.NOT_AN_IMAGE),
        (b"<!doctype html><html><body>hi</body></html>", FailureReason.NOT_AN_IMAGE),
        (b"\x00" * 1000, FailureReason.NOT_AN_IMAGE),
    ],
    ids=["zero_bytes", "html", "zeros"],
)
def test_not_an_image(data, reason):
    with pytest.raises(PermanentJobError) as caught:
        decode(data)
    assert caught.value.failure == Failure(reason)


def test_truncated_jpeg_is_refused_with_a_reason():
    data = sample_image("bus.jpg").read_bytes()
    with pytest.raises(PermanentJobError) as caught:
        decode(data[: len(data) // 3])
    assert caught.value.failure == Failure(FailureReason.DAMAGED)


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_the_opencv_path_decodes_jpegs_as_pillow_does(orientation):
    """Plain colour JPEGs go through OpenCV (it releases the GIL); same pixels, same way up."""
    from PIL import ImageOps

    from yolo5 import images

    photo = Image.open(io.BytesIO(sample_image("zidane.jpg").read_bytes())).resize((160, 90))
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(photo, "JPEG", quality=90, exif=exif.tobytes())
    fast = images._decode_plain_jpeg(data, 160, 90)
    upright = np.array(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    assert fast is not None
    assert fast.shape == upright.shape
    assert np.abs(fast.astype(int) - upright.astype(int)).max() <= 2
    assert np.array_equal(decode(data), fast)  # decode_rgb took the OpenCV path


def test_a_truncated_jpeg_is_refused_not_grey_filled_by_the_opencv_path():
    data = sample_image("bus.jpg").read_bytes()
    with pytest.raises(PermanentJobError) as refused:
        decode(data[: len(data) // 2])
    assert refused.value.failure == Failure(FailureReason.DAMAGED)
