"""Real small images made with Pillow, for the fake image providers."""

from __future__ import annotations

import io

from PIL import Image

FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


def make(width: int, height: int, fmt: str = "png", colour: tuple[int, int, int] = (200, 40, 90)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, FORMATS[fmt])
    return buffer.getvalue()
