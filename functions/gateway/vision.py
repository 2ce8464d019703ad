"""Images a caller sends to a model (vision): from ``data:`` URLs or the caller's own Cloud Storage objects.

The gateway never fetches a URL a caller chose (the request body could point
it at the metadata server or anything inside the project's network): only
``data:`` URLs and ``gs://<the images bucket>/<path>`` objects the caller
owns (``generated/{uid}/...`` or ``uploads/{uid}/...``; in organisation
``org``, its own generated images ``orgs/{org}/generated/{uid}/...`` instead
of the others), read with the Admin SDK. Each image's type comes from its bytes (PNG, JPEG, WebP, GIF), never
from what the caller says; sizes and counts are capped.

A request with images holds them (and the provider's request body, where each
is base64 again) until it ends: up to ~80 MiB for 12 MiB of images. An
instance serves ``deploy.CONCURRENCY`` requests at once on
``deploy.MEMORY``, so at most ``deploy.VISION_SLOTS`` of them may hold images
at a time (measured by ``tests/test_memory.py``); another waits up to
:data:`WAIT_SECONDS` for a slot, then gets a 503 with ``Retry-After`` (before
the provider is called; its budget reservation is released as for any error).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import threading
from collections.abc import Callable
from typing import Any

from gateway import deploy, storage
from gateway.errors import ErrorCode, GatewayError, busy, invalid
from gateway.providers.base import InputImage

MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_IMAGES = 8
MAX_REQUEST_IMAGE_BYTES = 12 * 1024 * 1024
"""All the images of one request together (a request of 8 images of 5 MiB would hold 40 MiB, and more base64-encoded)."""
OWN_PREFIXES = ("generated/{uid}/", "uploads/{uid}/")
ORG_PREFIXES = ("orgs/{org}/generated/{uid}/", "uploads/{uid}/")
"""In an organisation: the caller's images generated in it (another organisation's, or none's, are not its)."""
WAIT_SECONDS = 10.0
RETRY_AFTER_SECONDS = 5
_slots = threading.BoundedSemaphore(deploy.VISION_SLOTS)

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def media_type(data: bytes) -> str | None:
    """PNG, JPEG, GIF or WebP from the first bytes; None for anything else."""
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _too_large(field: str) -> GatewayError:
    return GatewayError(
        ErrorCode.PAYLOAD_TOO_LARGE, f"{field}: an image may be at most {MAX_IMAGE_BYTES} bytes", {"field": field, "limitBytes": MAX_IMAGE_BYTES}
    )


def _from_data_url(url: str, field: str) -> bytes:
    header, _, payload = url.partition(",")
    if not header.endswith(";base64"):
        raise invalid(field, "a data: URL image must be base64 (data:image/png;base64,...)")
    if len(payload) * 3 // 4 > MAX_IMAGE_BYTES:
        raise _too_large(field)
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(field, "the data: URL is not valid base64") from None


def _from_storage(url: str, uid: str, field: str, org: str | None = None) -> bytes:
    bucket, _, path = url.removeprefix("gs://").partition("/")
    if bucket != storage.bucket_name() or not path or ".." in path.split("/"):
        raise invalid(field, f"only objects of the images bucket gs://{storage.bucket_name()}/ can be sent")
    own = OWN_PREFIXES if org is None else ORG_PREFIXES
    if not path.startswith(tuple(prefix.format(uid=uid, org=org) for prefix in own)):
        raise GatewayError(ErrorCode.PERMISSION_DENIED, f"{field}: not one of your images", {"field": field})
    try:
        data = storage.read(path, MAX_IMAGE_BYTES)
    except ValueError:
        raise _too_large(field) from None
    if data is None:
        raise GatewayError(ErrorCode.NOT_FOUND, f"{field}: no such image", {"field": field})
    return data


@dataclasses.dataclass(frozen=True)
class Pending:
    """An image a request names, not read yet: images are read only once the request is admitted."""

    message: int
    field: str
    url: str


def name(url: str, message: int, field: str, seen: list[Pending]) -> None:
    """Note an image of message ``message`` (``seen``: the request's images so far); 400 past :data:`MAX_IMAGES` or for a URL the gateway never reads."""
    if len(seen) >= MAX_IMAGES:
        raise invalid(field, f"at most {MAX_IMAGES} images per request")
    if not url.startswith(("data:", "gs://")):
        raise invalid(field, "images are sent as data: URLs or gs:// paths of your own images; the gateway fetches no other URL")
    seen.append(Pending(message, field, url))


def _hold(on_close: Callable[[Callable[[], None]], None]) -> None:
    """Take one of the instance's image slots until the request ends (``on_close``); 503 when none frees up in time."""
    if not _slots.acquire(timeout=WAIT_SECONDS):
        raise busy("other requests' images", RETRY_AFTER_SECONDS, {"reason": "images busy"})
    released = threading.Event()

    def release() -> None:
        if not released.is_set():
            released.set()
            _slots.release()

    on_close(release)


def attach(params: Any, pending: list[Pending], uid: str, on_close: Callable[[Callable[[], None]], None], org: str | None = None) -> Any:
    """``params`` (``generation.TextParams``) with its images read and checked, at most :data:`MAX_REQUEST_IMAGE_BYTES` in all.

    The request holds one of the instance's image slots from here until ``on_close`` runs what it was given (the answer sent).
    """
    if not pending:
        return params
    _hold(on_close)
    images: dict[int, list[InputImage]] = {}
    total = 0
    for item in pending:
        image = load(item.url, uid, item.field, org)
        total += len(image.data)
        if total > MAX_REQUEST_IMAGE_BYTES:
            raise GatewayError(
                ErrorCode.PAYLOAD_TOO_LARGE,
                f"{item.field}: the request's images may be at most {MAX_REQUEST_IMAGE_BYTES} bytes together",
                {"field": item.field, "limitBytes": MAX_REQUEST_IMAGE_BYTES},
            )
        images.setdefault(item.message, []).append(image)
    messages = [dataclasses.replace(m, images=tuple(images[i])) if i in images else m for i, m in enumerate(params.messages)]
    return dataclasses.replace(params, messages=messages)


def load(url: str, uid: str, field: str, org: str | None = None) -> InputImage:
    """One image part's bytes, checked: ``field`` names the part in errors."""
    if url.startswith("data:"):
        data = _from_data_url(url, field)
    elif url.startswith("gs://"):
        data = _from_storage(url, uid, field, org)
    else:
        raise invalid(field, "images are sent as data: URLs or gs:// paths of your own images; the gateway fetches no other URL")
    if len(data) > MAX_IMAGE_BYTES:
        raise _too_large(field)
    kind = media_type(data)
    if kind is None:
        raise invalid(field, "not a PNG, JPEG, WebP or GIF image")
    return InputImage(kind, data)
