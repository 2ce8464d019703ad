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
    """``STORAGE_BUCKET``, else the project's default bucket from ``FIREBASE_CONFIG``, else ``<project>.appspot.com``."""
    if name := settings.STORAGE_BUCKET.value:
        return name
    config = os.environ.get("FIREBASE_CONFIG", "")
    if config.startswith("{"):
        name = json.loads(config).get("storageBucket")
        if name:
            return str(name)
    return f"{firebase.project_id()}.appspot.com"


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


def delete(paths: list[str]) -> None:
    """Best-effort removal (used to undo a half-done request)."""
    from google.api_core import exceptions

    for path in paths:
        try:
            bucket().blob(path).delete()
        except exceptions.NotFound:
            pass
