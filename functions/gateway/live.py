"""Config documents held in memory and kept current by Firestore realtime listeners.

Each HTTPS function is its own Cloud Run service, so a cache that only the
writing instance invalidates leaves every other instance stale. Instead, each
instance that reads ``models``, ``providers`` or ``config/limits`` keeps a
Firestore listener open on them: a change made anywhere (any function, the
seed loader, the console) reaches every listening instance in tens of
milliseconds, and a warm request reads nothing from Firestore.

Bounds, stated where they are enforced (:meth:`Live.current`):

- listening: what was pushed; the snapshot is also re-read every
  ``REGISTRY_CACHE_SECONDS`` as a safety net against a listener that is
  silently stuck (its stream dead while the client still says it is
  active). One request makes that read; the others serve what is held
  meanwhile instead of queueing behind it. When the read finds a version
  the listener never delivered (older than :data:`WATCHDOG_GRACE_SECONDS`),
  the listener is closed and subscribed anew: so a silently dead listener
  costs at most one ``REGISTRY_CACHE_SECONDS`` of staleness (plus the grace),
  once, not for the instance's life;
- listener down (stream failed, not yet re-established): the documents are
  re-read directly, at most every :data:`DOWN_REREAD_SECONDS` (2 s), while
  the listener is restarted with exponential backoff and jitter, from
  :data:`RETRY_SECONDS` up to :data:`RETRY_MAX_SECONDS` between attempts
  (one request reads, as above); the client library reopens a stream that
  broke only after it had lived :data:`STREAM_LIVED_SECONDS` (:class:`Reopen`),
  else the watch ends and is restarted on that backoff, so a persistent error
  puts no instance in a reconnect loop;
- CPU throttled (Cloud Run outside requests): changes wait in the listener's
  socket and are applied as soon as the next request gives the instance CPU,
  alongside that request, which may still see the previous version;
- after a write through this instance (:meth:`Live.invalidate`): the next read
  is a direct read, so the writer reads its own write at once.

Snapshots are full states at a server ``read_time``; a push or read older than
the one held is ignored, so a direct read and the listener never step back.
An empty collection's direct read carries no time: it is ignored when a push
arrived while it was made (a first document written meanwhile stays seen).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Generic, TypeVar

from gateway import firebase, logs, settings

T = TypeVar("T")

DOWN_REREAD_SECONDS = 2.0
RETRY_SECONDS = 1.0
"""The first delay before a listener is subscribed again; each failure in a row doubles it (with jitter)."""
RETRY_MAX_SECONDS = 60.0
FIRST_SNAPSHOT_SECONDS = 2.0
STREAM_LIVED_SECONDS = 10.0
"""A stream that broke after living this long is reopened at once; sooner, after a growing delay."""
WATCHDOG_GRACE_SECONDS = 10.0
"""A version this old that a safety-net read finds and the listener never delivered: the listener is dead."""


class Backoff:
    """Exponential delays with jitter between attempts to (re)open a listener; reset by a delivered snapshot."""

    def __init__(self) -> None:
        self.failures = 0

    def next(self) -> float:
        """The delay before the next attempt (half to all of the doubled delay), counting this attempt as a failure until reset."""
        delay = min(RETRY_MAX_SECONDS, RETRY_SECONDS * 2 ** min(self.failures, 30)) * random.uniform(0.5, 1.0)
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0


class Reopen:
    """The client library's reopening of one listener's broken stream: at once after a stream that lived, never in a loop.

    The library reopens at once, forever, on errors it deems recoverable, and
    enters its ``_reopen_throttle`` around each reopen, which this replaces.
    It does so on gRPC's thread, holding the stream's lock, so this must never
    wait there (a wait would hold up every call on the shared channel): a
    stream that broke soon after it opened, or a listener already closed, is
    refused instead, which ends the watch; :class:`Live` then subscribes
    anew on its own :class:`Backoff`.
    """

    class Refused(Exception):
        """Not reopened here: the stream broke too soon after opening, or its listener is closed."""

    def __init__(self) -> None:
        self.stopped = threading.Event()
        self.last = time.monotonic()

    def __enter__(self) -> None:
        now = time.monotonic()
        if self.stopped.is_set() or now - self.last <= STREAM_LIVED_SECONDS:
            raise Reopen.Refused
        self.last = now

    def __exit__(self, *exc: object) -> bool:
        return False


_all: list[Live[Any]] = []


def _time(value: Any) -> Any:
    """A snapshot's time as a datetime: a collection group query's snapshots carry protobuf Timestamps instead."""
    if value is not None and hasattr(value, "ToDatetime"):
        from google.api_core.datetime_helpers import DatetimeWithNanoseconds

        return DatetimeWithNanoseconds.from_timestamp_pb(value)
    return value


def org_key(snap: Any) -> tuple[str | None, str] | None:
    """A collection group's document keyed by (organisation, id): ``x/{id}`` is (None, id), ``orgs/{org}/x/{id}`` is (org, id).

    Any other place a sub-collection of that name might appear is not the catalogue's: None (left out).
    """
    owner = snap.reference.parent.parent
    if owner is None:
        return (None, snap.id)
    if owner.parent.id == "orgs" and owner.parent.parent is None:
        return (owner.id, snap.id)
    return None


class Live(Generic[T]):
    """The valid documents of a collection (or of one document, or of a collection group) by key, pushed by a listener.

    ``parse(key, data)`` turns a stored document into ``T`` or None (invalid,
    logged by the parser); it runs once per document version. The key is the
    document id, or for a collection group (``group=True``) :func:`org_key`'s
    (organisation, id): one listener holds the project-wide documents and every
    organisation's.
    """

    def __init__(self, path: str, parse: Callable[[Any, dict[str, Any]], T | None], group: bool = False) -> None:
        self.path = path
        self.parse = parse
        self.group = group
        self.reads = 0
        """Direct reads made (cold starts, invalidations, safety net, listener down)."""
        self.pushes = 0
        self._lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self._first = threading.Event()
        self._data: dict[Any, T] | None = None
        self._versions: dict[Any, tuple[Any, T | None]] = {}
        self._read_time: datetime | None = None
        self._confirmed = 0.0
        self._stale = False
        self._watch: Any = None
        self._retry_at = 0.0
        self._backoff = Backoff()
        self.restarts = 0
        """Listeners closed by the watchdog (a safety-net read found what they never delivered)."""
        _all.append(self)

    def _ref(self) -> Any:
        parts = self.path.split("/")
        db = firebase.db()
        if self.group:
            return db.collection_group(self.path)
        return db.collection(parts[0]) if len(parts) == 1 else db.collection(parts[0]).document(parts[1])

    def _listening(self) -> bool:
        watch = self._watch
        return watch is not None and watch.is_active and self._first.is_set()

    def start(self) -> None:
        """Have the listener running (or starting), without waiting for its first snapshot."""
        now = time.monotonic()
        watch = self._watch
        if (watch is None or not watch.is_active) and now >= self._retry_at:
            self._subscribe(now)

    def _key(self, snap: Any) -> Any:
        return org_key(snap) if self.group else snap.id

    def current(self) -> dict[Any, T]:
        """Every valid document by key, as fresh as the bounds in the module docstring allow."""
        self.start()
        now = time.monotonic()
        data = self._data
        if data is None and not self._stale:
            self._first.wait(FIRST_SNAPSHOT_SECONDS)
            data = self._data
        if data is None or self._stale:
            return self._reload()
        bound = settings.REGISTRY_CACHE_SECONDS.value if self._listening() else DOWN_REREAD_SECONDS
        if now - self._confirmed > bound:
            return self._reload(held=data)
        return data

    def invalidate(self) -> None:
        """Make the next read a direct one (this instance just wrote: read your own write)."""
        self._stale = True

    def _subscribe(self, now: float) -> None:
        with self._lock:
            if self._retry_at > now or (self._watch is not None and self._watch.is_active):
                return
            self._retry_at = now + self._backoff.next()
            old, self._watch = self._watch, None
            self._first.clear()
        if old is not None:
            logs.warn("config listener stopped; restarting it", path=self.path, failures=self._backoff.failures)
            _close(old)
        try:
            watch = self._ref().on_snapshot(self._on_snapshot)
        except Exception as exc:  # no listener: direct reads keep the 2 s bound
            logs.warn("config listener failed to start", path=self.path, exception=type(exc).__name__)
            return
        rpc = getattr(watch, "_rpc", None)
        if rpc is not None and hasattr(rpc, "_reopen_throttle"):
            rpc._reopen_throttle = Reopen()  # the library's reopen loop: at once after a stream that lived, else ended
        self._watch = watch

    def _resubscribe(self) -> None:
        """Close a listener that is active but silent, and subscribe anew at once."""
        with self._lock:
            watch, self._watch = self._watch, None
            if watch is None:
                return
            self.restarts += 1
            self._retry_at = 0.0
        logs.warn("config listener missed an update the safety-net read found; resubscribing", path=self.path)
        _close(watch)
        self._subscribe(time.monotonic())

    def _on_snapshot(self, docs: list[Any], changes: Any, read_time: datetime) -> None:
        self.pushes += 1
        self._backoff.reset()
        self._apply((d for d in docs if d.exists), _time(read_time))
        self._first.set()

    def _reload(self, held: dict[Any, T] | None = None) -> dict[Any, T]:
        """Read the documents directly. With ``held`` (a re-read of data still valid), a request that finds
        another thread re-reading serves ``held`` instead of waiting for that read."""
        if not self._reload_lock.acquire(blocking=held is None):
            assert held is not None
            return held
        try:
            if not self._stale and self._data is not None and time.monotonic() - self._confirmed <= DOWN_REREAD_SECONDS / 2:
                return self._data  # another thread just read it
            self._stale = False
            self.reads += 1
            pushes = self.pushes
            listening = held is not None and self._listening()
            got = self._ref().get()
            snaps = got if isinstance(got, list) else [got]
            times = [_time(s.read_time) for s in snaps if s.read_time is not None]
            read_time = max(times) if times else None
            missed = listening and self._missed([s for s in snaps if s.exists], read_time)
            self._apply((s for s in snaps if s.exists), read_time, pushes_before=pushes)
            assert self._data is not None
            data = self._data
        finally:
            self._reload_lock.release()
        if missed:
            self._resubscribe()
        return data

    def _missed(self, snaps: list[Any], read_time: datetime | None) -> bool:
        """Whether a direct read holds a version the listener should have delivered by now (its stream is dead)."""
        if read_time is None:
            return False
        with self._lock:
            versions = dict(self._versions)
        for snap in snaps:
            updated = _time(snap.update_time)
            known = versions.get(self._key(snap))
            if (known is None or known[0] != updated) and updated is not None and (read_time - updated).total_seconds() > WATCHDOG_GRACE_SECONDS:
                return True
        return False

    def _apply(self, snaps: Iterable[Any], read_time: datetime | None, pushes_before: int | None = None) -> None:
        with self._lock:
            if read_time is not None and self._read_time is not None and read_time < self._read_time:
                return  # an older state than the one held
            if read_time is None and pushes_before is not None and self.pushes != pushes_before and self._data is not None:
                return  # an empty collection's answer carries no time: a push that came during the read is as new
            versions: dict[Any, tuple[Any, T | None]] = {}
            for snap in snaps:
                key = self._key(snap)
                if key is None:
                    continue
                known = self._versions.get(key)
                updated = _time(snap.update_time)
                versions[key] = known if known and known[0] == updated else (updated, self.parse(key, snap.to_dict() or {}))
            self._versions = versions
            self._data = {key: value for key, (_, value) in versions.items() if value is not None}
            if read_time is not None:
                self._read_time = read_time
            self._confirmed = time.monotonic()

    def close(self) -> None:
        with self._lock:
            self._backoff = Backoff()
            watch, self._watch = self._watch, None
            self._data, self._versions, self._read_time = None, {}, None
            self._first.clear()
            self._retry_at = 0.0
        if watch is not None:
            _close(watch)


def _close(watch: Any) -> None:
    reopen = getattr(getattr(watch, "_rpc", None), "_reopen_throttle", None)
    if isinstance(reopen, Reopen):
        reopen.stopped.set()
    try:
        watch.unsubscribe()
    except Exception:  # a watch that died closes with its error; nothing to do
        pass


def close_all() -> None:
    """Stop every listener of this process (tests, shutdown)."""
    for live in _all:
        live.close()
