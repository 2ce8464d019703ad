"""Provider keys: Secret Manager, cached briefly; the environment too, under the emulators only.

The gateway names every provider's secret itself: ``AI_GATEWAY_PROVIDER_``
plus the provider id in capitals, ``-`` and ``.`` as ``_`` (:func:`name_for`).
No document or request chooses it, and this module reads and writes no other
name (:func:`checked`), so an admin can point the gateway at no secret but
the gateway's own, and the IAM recipe in docs/deploy.md can grant access to exactly
those (a condition on the :data:`PREFIX`). The key is read from
``projects/{project}/secrets/{name}/versions/{n}``, the version the provider
document's ``keyVersion`` names (the one its ``keyBinding`` was made with;
``latest`` when it names none): a version added in Secret Manager past the
gateway is not used until it is stored through it:

- in production with ``google-cloud-secret-manager`` and the function's
  service account;
- locally through the same client over REST against a local Secret Manager
  server (``drongo``) at ``SECRET_MANAGER_EMULATOR_HOST``, which ``make dev``
  and the tests start;
- under the emulators only, else from the environment variable of the same
  name (the Firebase convention: ``functions/.secret.local``). Never in
  production: there the environment holds ``PATH``, ``FIREBASE_CONFIG`` and
  the like, none of them a provider key.

"No key set" and "the key could not be read" are different answers:
:func:`read` returns a :class:`Read` whose ``error`` (a :class:`SecretError`)
says why a read failed: the Secret Manager API is disabled in the project
(``disabled``), the function's service account may not read the secret
(``denied``), the latest version is disabled or destroyed (``unusable``), or
Secret Manager did not answer (``unavailable``). Its message says what to do
and never contains a key. A key is cached for ``SECRET_CACHE_SECONDS``; a
failure only for :data:`FAILURE_CACHE_SECONDS`, so a fixed permission is
picked up within seconds while a broken project is not asked on every
request. When Secret Manager does not answer (``unavailable``) as a cached
key expires, the key already held is kept (and re-read after
:data:`FAILURE_CACHE_SECONDS`): an outage is not a reason to stop using a
good key. A refusal (``denied``, ``unusable``, ``disabled``) drops it. A read
waits at most about :data:`READ_DEADLINE_SECONDS` (the client's own default
retries for a minute). Keys are refreshed when a
provider answers 401 and registered with the log redactor the moment they
are read.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

from gateway import firebase, logs, settings

EMULATOR_ENV = "SECRET_MANAGER_EMULATOR_HOST"
API = "secretmanager.googleapis.com"
FAILURE_CACHE_SECONDS = 5.0
READ_DEADLINE_SECONDS = 3.0
CALL_TIMEOUT_SECONDS = 5.0

PREFIX = "AI_GATEWAY_PROVIDER_"
"""Every project-wide provider key's secret id starts with this (the IAM condition in docs/deploy.md names it too)."""
ORG_PREFIX = "AI_GATEWAY_ORG_"
"""Every organisation's provider key's secret id starts with this: ``AI_GATEWAY_ORG_<ORG>__<PROVIDER>`` (IAM condition too)."""
ORG_SEPARATOR = "__"
NAME = re.compile(PREFIX + r"[A-Z0-9_]{1,200}|" + ORG_PREFIX + r"[A-Z0-9]+(?:_[A-Z0-9]+)*__[A-Z0-9][A-Z0-9_]{0,199}")
"""The names :func:`name_for` gives, and only those (an org part has no ``__``: org ids have no ``--``, no ``_``)."""

Kind = Literal["disabled", "denied", "unusable", "unavailable", "unbound"]

SUMMARIES: dict[str, str] = {
    "disabled": "Secret Manager API disabled",
    "denied": "permission denied on the secret",
    "unusable": "latest secret version disabled or destroyed",
    "unavailable": "Secret Manager unavailable",
    "unbound": "the provider's addresses changed without its key",
}


class SecretError(Exception):
    """Secret Manager could not be used for secret ``name``; ``kind`` says why, the message what to do."""

    def __init__(self, kind: Kind, name: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.name = name
        self.message = message

    @property
    def summary(self) -> str:
        """A few words for public reports (``health``): no project, no remedy."""
        return SUMMARIES[self.kind]


def _upper(text: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", text.upper())


def name_for(provider_id: str, org: str | None = None) -> str:
    """The secret holding provider ``provider_id``'s key (of organisation ``org``, None: project-wide).

    A valid Secret Manager id and environment variable name. Provider ids of
    one catalogue differing only by ``-``, ``.`` or ``_`` map to one name: the
    second such provider is refused on create. Two organisations never share
    one: an org id (lowercase letters, digits, single dashes, ending with
    either) upper-cases to a part without ``__``, so the first ``__`` after
    :data:`ORG_PREFIX` always ends it (org ``a-b``/provider ``c`` is
    ``..._A_B__C``, org ``a``/provider ``b-c`` is ``..._A__B_C``).
    """
    if org is None:
        return PREFIX + _upper(provider_id)
    return ORG_PREFIX + _upper(org) + ORG_SEPARATOR + _upper(provider_id)


def checked(name: str) -> str:
    """``name`` when it is one the gateway gives (:func:`name_for`); anything else is a bug, never read or written."""
    if not NAME.fullmatch(name):
        raise ValueError(f"not a provider key's secret name (expected {PREFIX}<ID> or {ORG_PREFIX}<ORG>__<ID>): {name!r}")
    return name


def from_environment(name: str) -> str | None:
    """The key in the environment variable ``name``, under the emulators only (``functions/.secret.local``)."""
    return (os.environ.get(checked(name)) or None) if firebase.emulated() else None


@dataclass(frozen=True)
class Read:
    """One secret's value (None: not set anywhere) and, when Secret Manager failed, why."""

    value: str | None
    error: SecretError | None = None


@dataclass(frozen=True)
class _Cached:
    expires: float
    read: Read
    versions: frozenset[str | None]
    """The ``keyVersion``s this read is current for: every one seen up to it (for a read of ``latest``), so two
    provider documents that name one secret at different versions do not re-read it in turn."""


_lock = threading.Lock()
_cache: dict[tuple[str, str | None], _Cached] = {}
"""Per (secret, pinned version number or None for ``latest``)."""
VERSION = re.compile(r"(?:.*/)?versions/([0-9]{1,12})")


def pinned(version: str | None) -> str | None:
    """The version number a ``keyVersion`` names (``projects/p/secrets/s/versions/3`` -> ``3``); None: read ``latest``.

    Only the number is taken: the project and the secret are always the
    gateway's own, whatever a document says.
    """
    match = VERSION.fullmatch(version or "")
    return match.group(1) if match else None
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


def client() -> Any:
    """The Secret Manager client (None under the emulators without drongo): for seed scripts run by an operator."""
    return _secret_manager()


def _service_account_hint() -> str:
    service = os.environ.get("K_SERVICE")
    return f"the service account the '{service}' function runs as" if service else "the function's service account"


def _status(exc: Exception) -> str:
    """The canonical status name (``PERMISSION_DENIED``, ``FAILED_PRECONDITION``...) of a failed call, gRPC or REST."""
    code = getattr(exc, "grpc_status_code", None)
    if code is not None:
        return str(getattr(code, "name", code))
    try:  # REST errors carry it in the body: {"error": {"status": ...}}
        return str(exc.response.json()["error"]["status"])  # type: ignore[attr-defined]
    except Exception:
        return ""


def classify(exc: Exception, name: str, writing: bool = False) -> SecretError:
    """What a failed Secret Manager call means, as a :class:`SecretError` with the fix in its message.

    The REST transport raises ``Forbidden``/``BadRequest`` where gRPC raises
    their subclasses ``PermissionDenied``/``FailedPrecondition``, so the
    classes are matched by their base and the status read from the body.
    """
    from google.api_core import exceptions

    project = firebase.project_id() or "<project>"
    status = _status(exc)
    text = str(exc)
    if isinstance(exc, exceptions.Forbidden) and (
        getattr(exc, "reason", None) == "SERVICE_DISABLED" or "SERVICE_DISABLED" in text or "has not been used in project" in text
    ):
        return SecretError(
            "disabled",
            name,
            f"the Secret Manager API is disabled in project {project}: run `gcloud services enable {API} --project {project}` "
            "(or deploy again: firebase deploy enables it)",
        )
    if isinstance(exc, exceptions.Forbidden | exceptions.Unauthorized):
        scope = f"with docs/deploy.md's condition on the secret's name (starting {PREFIX} or {ORG_PREFIX})"
        if writing:
            remedy = (
                f"grant secretmanager.secrets.create on project {project} and roles/secretmanager.secretVersionAdder "
                f"{scope} to {_service_account_hint()} (PROVIDERS_SERVICE_ACCOUNT)"
            )
        else:
            remedy = f"grant roles/secretmanager.secretAccessor {scope} to {_service_account_hint()}"
        return SecretError("denied", name, f"permission denied on secret {name}: {remedy}")
    if isinstance(exc, exceptions.FailedPrecondition) or status == "FAILED_PRECONDITION":
        return SecretError("unusable", name, f"the latest version of secret {name} is disabled or destroyed: store the key again")
    detail = f"{type(exc).__name__} {status or getattr(exc, 'code', '') or ''}".strip()
    return SecretError("unavailable", name, f"Secret Manager did not answer for secret {name} ({detail}); try again shortly")


def _retry() -> Any:
    from google.api_core import exceptions, retry

    return retry.Retry(
        initial=0.2,
        maximum=1.0,
        multiplier=2.0,
        timeout=READ_DEADLINE_SECONDS,
        predicate=retry.if_exception_type(exceptions.ServiceUnavailable, exceptions.TooManyRequests),
    )


def _read(name: str, number: str | None = None) -> Read:
    checked(name)
    client = _secret_manager()
    error: SecretError | None = None
    if client is not None:
        from google.api_core import exceptions

        path = f"projects/{firebase.project_id()}/secrets/{name}/versions/{number or 'latest'}"
        try:
            response = client.access_secret_version(request={"name": path}, retry=_retry(), timeout=CALL_TIMEOUT_SECONDS)
            return Read(str(response.payload.data.decode("utf-8")))
        except exceptions.NotFound:
            pass
        except Exception as exc:  # every failure is reported as one, never as "no key"
            error = classify(exc, name)
            logs.warn(
                "secret manager read failed",
                secret=name,
                kind=error.kind,
                error=type(exc).__name__,
                reason=getattr(exc, "reason", None),
            )
    return Read(from_environment(name), error)


def read(name: str, version: str | None = None) -> Read:
    """Secret ``name``: its value, or why Secret Manager could not give it.

    ``version`` is what the provider document says was stored last
    (``keyVersion``): one the cached read has not seen makes it read again,
    so a key stored through any function reaches every instance with the
    document.
    """
    number = pinned(version)
    cached = _cache.get((name, number))
    if cached is not None and cached.expires > time.monotonic() and (number is not None or version in cached.versions):
        return cached.read
    return _reread(name, cached, version)


def _reread(name: str, cached: _Cached | None, version: str | None, keep: bool = True) -> Read:
    """Read ``name`` now and cache the answer; when Secret Manager does not answer, keep the key ``cached`` held."""
    now = time.monotonic()
    number = pinned(version)
    result = _read(name, number)
    life = float(settings.SECRET_CACHE_SECONDS.value)
    if result.value:
        logs.redact(result.value)
    if result.error is not None:
        life = FAILURE_CACHE_SECONDS
        if keep and result.error.kind == "unavailable" and cached is not None and cached.read.value:
            logs.warn("secret manager unavailable; keeping the key held", secret=name)
            result = cached.read
    versions = (cached.versions if cached is not None else frozenset()) | {version}
    with _lock:
        _cache[(name, number)] = _Cached(now + life, result, versions)
    return result


def get(name: str | None, version: str | None = None) -> str | None:
    """The current value of secret ``name`` (None when unset anywhere or unreadable: see :func:`read`)."""
    if not name:
        return None
    return read(name, version).value


def problem(name: str | None, version: str | None = None) -> SecretError | None:
    """Why secret ``name`` has no value, when the reason is a failed read (None: simply not set)."""
    if not name:
        return None
    return read(name, version).error


def forget() -> None:
    """Drop every cached key and the client (tests, endpoint changes)."""
    global _client
    with _lock:
        _cache.clear()
        if _client is not None:
            _client.transport.close()
        _client = None


def put(name: str, value: str) -> str:
    """Store ``value`` as a new version of secret ``name`` (created if needed); returns the version name.

    Raises :class:`SecretError` when Secret Manager refuses or fails.
    """
    from google.api_core import exceptions

    checked(name)
    client = _secret_manager()
    if client is None:
        raise RuntimeError(f"no Secret Manager: set {EMULATOR_ENV} or run against a real project")
    parent = f"projects/{firebase.project_id()}"
    try:
        try:
            client.create_secret(request={"parent": parent, "secret_id": name, "secret": {"replication": {"automatic": {}}}})
        except exceptions.Conflict:  # AlreadyExists, or a plain 409 from a local server
            pass
        version = client.add_secret_version(request={"parent": f"{parent}/secrets/{name}", "payload": {"data": value.encode()}})
    except exceptions.GoogleAPICallError as exc:
        raise classify(exc, name, writing=True) from None
    with _lock:
        for slot in [slot for slot in _cache if slot[0] == name]:
            _cache.pop(slot, None)
    logs.redact(value)
    return str(version.name)


def delete(name: str) -> bool:
    """Delete secret ``name`` (every version), a name the gateway derives only; False when there was none to delete.

    Used when what owns the key goes (an organisation's delete). Raises :class:`SecretError` when Secret Manager refuses.
    """
    from google.api_core import exceptions

    checked(name)
    client = _secret_manager()
    if client is None:
        return False
    try:
        client.delete_secret(request={"name": f"projects/{firebase.project_id()}/secrets/{name}"})
    except exceptions.NotFound:
        return False
    except exceptions.GoogleAPICallError as exc:
        raise classify(exc, name, writing=True) from None
    finally:
        with _lock:
            for slot in [slot for slot in _cache if slot[0] == name]:
                _cache.pop(slot, None)
    return True
