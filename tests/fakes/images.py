"""Real small images made with Pillow, for the fake image providers."""

from __future__ import annotations

import functools
import io
import os

from PIL import Image

FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


def make(width: int, height: int, fmt: str = "png", colour: tuple[int, int, int] = (200, 40, 90)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, FORMATS[fmt])
    return buffer.getvalue()


@functools.cache
def noise(width: int, height: int, fmt: str = "png") -> bytes:
    """An image of random pixels: as large as an image of that size gets (a photo's worth, for memory tests); one per size."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(buffer, FORMATS[fmt])
    return buffer.getvalue()
