"""Cloud Storage for generated files: one writer for production and the Storage emulator.

Uses ``firebase_admin.storage`` (``google-cloud-storage``), which talks to the
emulator when ``STORAGE_EMULATOR_HOST`` is set. Each object gets a Firebase
download token, so the Firebase web SDK's ``getDownloadURL`` and the URL
returned here both work; reads by clients are governed by ``storage.rules``.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from typing import Any
from urllib.parse import quote

from gateway import firebase, settings

CACHE_CONTROL = "private, max-age=31536000, immutable"
_lock = threading.Lock()
_bucket: Any = None


def bucket_name() -> str:
    """The bucket generated images go to.

    1. ``IMAGES_BUCKET`` when set (a bucket name; a ``gs://`` prefix is allowed);
    2. else the project's default Firebase Storage bucket as ``FIREBASE_CONFIG``
       names it (``storageBucket``): ``firebase deploy`` sets that variable on
       every function from the project's Firebase config, and the emulator
       sets it too. It is ``<project>.firebasestorage.app`` for projects
       created since late 2024 and ``<project>.appspot.com`` for older ones
       (the legacy default, still their bucket: nothing to migrate);
    3. else ``<project>.firebasestorage.app``, the name a new project's
       default bucket gets.
    """
    if name := settings.IMAGES_BUCKET.value.strip().removeprefix("gs://").rstrip("/"):
        return name
    config = os.environ.get("FIREBASE_CONFIG", "")
    if config.startswith("{"):
        name = json.loads(config).get("storageBucket")
        if name:
            return str(name)
    return f"{firebase.project_id()}.firebasestorage.app"


def bucket() -> Any:
    global _bucket
    if _bucket is None:
        from firebase_admin import storage

        with _lock:
            if _bucket is None:
                _bucket = storage.bucket(bucket_name(), app=firebase.app())
    return _bucket


def download_url(path: str, token: str) -> str:
    host = os.environ.get("FIREBASE_STORAGE_EMULATOR_HOST")
    base = f"http://{host}" if host else "https://firebasestorage.googleapis.com"
    return f"{base}/v0/b/{bucket_name()}/o/{quote(path, safe='')}?alt=media&token={token}"


def upload(path: str, data: bytes, content_type: str, metadata: dict[str, str]) -> str:
    """Store ``data`` at ``path`` with its metadata and a download token; returns the download URL."""
    token = str(uuid.uuid4())
    blob = bucket().blob(path)
    blob.cache_control = CACHE_CONTROL
    blob.metadata = {**metadata, "firebaseStorageDownloadTokens": token}
    blob.upload_from_string(data, content_type=content_type)
    return download_url(path, token)


def read(path: str, max_bytes: int) -> bytes | None:
    """The object at ``path`` (None when it does not exist); a larger object than ``max_bytes`` raises ValueError."""
    from google.api_core import exceptions

    blob = bucket().blob(path)
    try:
        blob.reload()
    except exceptions.NotFound:
        return None
    if blob.size is not None and blob.size > max_bytes:
        raise ValueError(blob.size)
    return bytes(blob.download_as_bytes())


def delete(paths: list[str]) -> None:
    """Best-effort removal (used to undo a half-done request)."""
    from google.api_core import exceptions

    for path in paths:
        try:
            bucket().blob(path).delete()
        except exceptions.NotFound:
            pass
