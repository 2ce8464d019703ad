"""Provider keys: Secret Manager first, the environment as a fallback, cached briefly.

A provider document names its key (``secretName``), never holds it. The key
is read from ``projects/{project}/secrets/{name}/versions/latest``:

- in production with ``google-cloud-secret-manager`` and the function's
  service account;
- locally through the same client over REST against a local Secret Manager
  server (``drongo``) at ``SECRET_MANAGER_EMULATOR_HOST``, which ``make dev``
  and the tests start;
- else from the environment variable of the same name (the Firebase
  convention: ``functions/.secret.local`` or secrets declared on a function).

Keys are cached for ``SECRET_CACHE_SECONDS``, refreshed when a provider
answers 401, and registered with the log redactor the moment they are read.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from gateway import firebase, logs, settings

EMULATOR_ENV = "SECRET_MANAGER_EMULATOR_HOST"

_lock = threading.Lock()
_cache: dict[str, tuple[float, str | None, str | None]] = {}
_client: Any = None


def _secret_manager() -> Any:
    """The Secret Manager client, or None where none is reachable (emulators without drongo)."""
    global _client
    if _client is None:
        endpoint = os.environ.get(EMULATOR_ENV)
        if not endpoint and firebase.emulated():
            return None
        from google.cloud import secretmanager

        if endpoint:
            from google.auth.credentials import AnonymousCredentials

            url = endpoint if endpoint.startswith("http") else f"http://{endpoint}"
            _client = secretmanager.SecretManagerServiceClient(
                transport="rest", credentials=AnonymousCredentials(), client_options={"api_endpoint": url}
            )
        else:
            _client = secretmanager.SecretManagerServiceClient()
    return _client


def _read(name: str) -> str | None:
    client = _secret_manager()
    if client is not None:
        from google.api_core import exceptions

        path = f"projects/{firebase.project_id()}/secrets/{name}/versions/latest"
        try:
            return str(client.access_secret_version(request={"name": path}).payload.data.decode("utf-8"))
        except exceptions.NotFound:
            pass
        except exceptions.GoogleAPICallError as exc:
            logs.warn("secret manager read failed; trying the environment", secret=name, error=type(exc).__name__)
    return os.environ.get(name) or None


def get(name: str | None, version: str | None = None) -> str | None:
    """The current value of secret ``name`` (None when unset anywhere).

    ``version`` is what the provider document says was stored last
    (``keyVersion``): when it changes, the cached value is dropped, so a key
    stored through any function reaches every instance with the document.
    """
    if not name:
        return None
    now = time.monotonic()
    cached = _cache.get(name)
    if cached is not None and cached[0] > now and cached[2] == version:
        return cached[1]
    value = _read(name)
    if value:
        logs.redact(value)
    with _lock:
        _cache[name] = (now + settings.SECRET_CACHE_SECONDS.value, value, version)
    return value


def refresh(name: str) -> str | None:
    """Forget the cached value and read it again (after a provider said 401)."""
    with _lock:
        cached = _cache.pop(name, None)
    return get(name, cached[2] if cached else None)


def forget() -> None:
    """Drop every cached key and the client (tests, endpoint changes)."""
    global _client
    with _lock:
        _cache.clear()
        if _client is not None:
            _client.transport.close()
        _client = None


def put(name: str, value: str) -> str:
    """Store ``value`` as a new version of secret ``name`` (created if needed); returns the version name."""
    from google.api_core import exceptions

    client = _secret_manager()
    if client is None:
        raise RuntimeError(f"no Secret Manager: set {EMULATOR_ENV} or run against a real project")
    parent = f"projects/{firebase.project_id()}"
    try:
        client.create_secret(request={"parent": parent, "secret_id": name, "secret": {"replication": {"automatic": {}}}})
    except exceptions.Conflict:  # AlreadyExists, or a plain 409 from a local server
        pass
    version = client.add_secret_version(request={"parent": f"{parent}/secrets/{name}", "payload": {"data": value.encode()}})
    with _lock:
        _cache.pop(name, None)
    logs.redact(value)
    return str(version.name)
