"""Draw the detections on the photo (boxes and class labels) and encode it as JPEG.

OpenCV, not Pillow, because of the GIL: this runs on an I/O thread while the model runs on the
main one, and the model needs the GIL between every two torch operations. Pillow's JPEG
encoder (and its conversion back to an array) hold the GIL while they work: 16% of all GIL
time in the worker (py-spy --gil during figure 1). OpenCV releases it in every call.
"""

from __future__ import annotations

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
WHITE = (255, 255, 255)

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
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)  # a new array: the caller's pixels stay as they are
    height, width = bgr.shape[:2]
    line = max(2, round((width + height) / 2 * 0.003))
    scale, stroke = line / 3, max(1, line // 2)
    for label in labels:
        x1, y1, x2, y2 = label["bbox"]
        red, green, blue = colour_of(label["class"])
        colour = (blue, green, red)
        cv2.rectangle(bgr, (x1, y1), (x2, y2), colour, line, cv2.LINE_AA)
        text = f"{label['class']} {label['confidence']:.2f}"
        (text_width, text_height), baseline = cv2.getTextSize(text, FONT, scale, stroke)
        lift = text_height + baseline + line
        top = y1 - lift if y1 - lift >= 0 else y1
        cv2.rectangle(bgr, (x1, top), (x1 + text_width + line, top + lift), colour, cv2.FILLED)
        cv2.putText(
            bgr,
            text,
            (x1 + line // 2, top + text_height + line // 2),
            FONT,
            scale,
            WHITE,
            stroke,
            cv2.LINE_AA,
        )
    encoded, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not encoded:
        raise RuntimeError(f"JPEG encoding failed for a {width}x{height} image")
    return jpeg.tobytes()
