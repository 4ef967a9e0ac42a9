"""Draw the detections on the photo with Pillow (no OpenCV): boxes and class labels."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# A small fixed palette keyed by class name, so the same class has the same colour everywhere.
_PALETTE = (
    (255, 56, 56),
    (255, 157, 151),
    (255, 112, 31),
    (255, 178, 29),
    (207, 210, 49),
    (72, 249, 10),
    (146, 204, 23),
    (61, 219, 134),
    (26, 147, 52),
    (0, 212, 187),
    (44, 153, 168),
    (0, 194, 255),
    (52, 69, 147),
    (100, 115, 255),
    (0, 24, 236),
    (132, 56, 255),
    (82, 0, 133),
    (203, 56, 255),
    (255, 149, 200),
    (255, 55, 199),
)
JPEG_QUALITY = 90


def colour_of(name: str) -> tuple[int, int, int]:
    return _PALETTE[sum(name.encode()) % len(_PALETTE)]


def annotated_jpeg(rgb: np.ndarray, labels: list[dict]) -> bytes:
    image = Image.fromarray(rgb, "RGB")
    draw = ImageDraw.Draw(image)
    width = max(2, round(sum(image.size) / 2 * 0.003))
    font = ImageFont.load_default(size=max(12, width * 6))
    for label in labels:
        x1, y1, x2, y2 = label["bbox"]
        colour = colour_of(label["class"])
        draw.rectangle((x1, y1, x2, y2), outline=colour, width=width)
        text = f"{label['class']} {label['confidence']:.2f}"
        left, top, right, bottom = draw.textbbox((x1, y1), text, font=font)
        lift = bottom - top + 2 * width
        ty = y1 - lift if y1 - lift >= 0 else y1
        draw.rectangle((x1, ty, x1 + (right - left) + 2 * width, ty + lift), fill=colour)
        draw.text((x1 + width, ty + width), text, fill=(255, 255, 255), font=font)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY)
    return out.getvalue()
