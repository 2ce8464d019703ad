"""The Firebase Admin app and the Firestore client, created on first use.

Importing ``google.cloud.firestore`` costs ~180 ms, so nothing here runs at
import time. Under the Emulator Suite there are no Google credentials, yet
``firebase_admin`` still asks ``google.auth.default()`` for some: the app is
then given anonymous ones (the emulators ignore them).
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import firebase_admin
    from google.cloud.firestore import Client as FirestoreClient

APP_NAME = "gateway"
_lock = threading.Lock()
_app: firebase_admin.App | None = None
_db: FirestoreClient | None = None


def emulated() -> bool:
    """True when the Firebase emulators stand in for production services."""
    return bool(
        os.environ.get("FUNCTIONS_EMULATOR") == "true"
        or os.environ.get("FIRESTORE_EMULATOR_HOST")
        or os.environ.get("FIREBASE_AUTH_EMULATOR_HOST")
    )


def project_id() -> str:
    return (
        os.environ.get("GCLOUD_PROJECT")
        or os.environ.get("GOOGLE_CLOUD_PROJECT")
        or os.environ.get("FIREBASE_PROJECT", "")
    )


def _anonymous_credential() -> Any:
    from firebase_admin import credentials
    from google.auth.credentials import AnonymousCredentials

    class _Anonymous(credentials.Base):
        def get_credential(self) -> AnonymousCredentials:
            return AnonymousCredentials()

    return _Anonymous()


def app() -> firebase_admin.App:
    """The gateway's Firebase Admin app, initialised once per process.

    A named app, because the SDK's Firestore triggers initialise the default
    app themselves, with credentials that do not exist under the emulators.
    """
    global _app
    if _app is None:
        with _lock:
            if _app is None:
                import firebase_admin

                try:
                    _app = firebase_admin.get_app(APP_NAME)
                except ValueError:
                    options = {"projectId": project_id()} if project_id() else None
                    cred = _anonymous_credential() if emulated() else None
                    _app = firebase_admin.initialize_app(cred, options, name=APP_NAME)
    return _app


def db() -> FirestoreClient:
    """The Firestore client of the default app (the emulator when its host is set)."""
    global _db
    if _db is None:
        from firebase_admin import firestore

        client = firestore.client(app())
        with _lock:
            if _db is None:
                _db = client
    return _db
