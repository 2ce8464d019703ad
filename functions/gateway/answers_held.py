"""The bytes of provider answers one instance holds at once, bounded.

A provider's answer is read whole when it is not a stream (a JSON answer,
base64 images, image bytes), up to ``providers.base.MAX_BODY_BYTES`` each,
and a request keeps it until it ends: the raw bytes, their parsed form and
the answer the gateway sends back, about 3× the raw size. An instance serves
``deploy.CONCURRENCY`` requests at once, so 80 answers of 32 MiB would need
gigabytes where the function has ``deploy.MEMORY``. Every answer read in one
piece therefore takes its bytes from one budget per instance
(``deploy.answer_budget_mb()``) and gives them back when its request ends.

A read that finds the budget spent pauses (the provider's connection simply
waits, TCP holds the rest) for up to :data:`WAIT_SECONDS`; if it still cannot
go on it fails as ``busy``, a 503 with ``Retry-After``, and gives back what it
held. The oldest answer still being read always goes on, so one answer is
always being finished and an answer within ``MAX_BODY_BYTES`` fits on a quiet
instance whatever the budget: the instance holds at most the budget plus one
answer. Ordinary answers (a few KiB) never wait.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable, Iterator

from gateway import deploy

WAIT_SECONDS = 10.0
RETRY_AFTER_SECONDS = 5


class Exhausted(Exception):
    """The budget stayed spent for :data:`WAIT_SECONDS`."""


class Budget:
    """A count of bytes held, at most ``limit`` plus what the oldest answer still being read has taken.

    Readers take their bytes chunk by chunk, as they arrive. If every reader
    waited for room, readers holding part of their answers could wait for each
    other until all time out; letting the oldest one go on past the budget
    (by its own bytes only) means one answer is always being finished, and
    the instance holds at most ``limit`` plus one request's answers.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._changed = threading.Condition()
        self._readers: dict[object, int] = {}  # what each read in progress has taken, in the order they started

    @contextlib.contextmanager
    def reader(self) -> Iterator[object]:
        """Register one answer's read for as long as it lasts (not as long as its bytes are held)."""
        token = object()
        with self._changed:
            self._readers[token] = 0
        try:
            yield token
        finally:
            with self._changed:
                del self._readers[token]
                self._changed.notify_all()

    def _room(self, size: int, reader: object | None, own: int) -> bool:
        if self.held == 0 or self.held + size <= self.limit:
            return True
        # the oldest read: past the budget by what its own request holds (``own`` counts this read too, when given)
        return reader is not None and next(iter(self._readers), None) is reader and self.held - max(own, self._readers[reader]) <= self.limit

    def take(self, size: int, reader: object | None = None, timeout: float = WAIT_SECONDS, own: int = 0) -> None:
        """Count ``size`` more bytes, waiting for room; ``own``: what the reader's request holds, this read included."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._room(size, reader, own), timeout):
                raise Exhausted
            self.held += size
            if reader in self._readers:
                self._readers[reader] += size

    def give(self, size: int) -> None:
        if size <= 0:
            return
        with self._changed:
            self.held = max(0, self.held - size)
            self._changed.notify_all()


class Scope:
    """What one request holds; given back once, when the request ends."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.held = 0
        self.closed = False
        self._lock = threading.Lock()

    def take(self, size: int, reader: object | None = None) -> None:
        self.budget.take(size, reader, own=self.held)  # the oldest read never waits on its own request's earlier answers
        with self._lock:
            if not self.closed:
                self.held += size
                return
        self.budget.give(size)  # the request already ended (a reader on another thread): nothing keeps it

    def close(self) -> None:
        with self._lock:
            held, self.held, self.closed = self.held, 0, True
        self.budget.give(held)


_budget = Budget(deploy.answer_budget_mb() << 20)
_scope: contextvars.ContextVar[Scope | None] = contextvars.ContextVar("answers_held", default=None)


def begin() -> Callable[[], None]:
    """Open this request's scope (``http.serve``); returns what gives its bytes back when the response closes."""
    scope = Scope(_budget)
    _scope.set(scope)
    return scope.close


@contextlib.contextmanager
def reading() -> Iterator[Callable[[int], None]]:
    """A ``take(size)`` for one answer's chunks: held until the request ends (outside a request: until the read ends)."""
    scope = _scope.get()
    own = scope is None or scope.closed
    if own:  # the health probe, a script, a thread of its own: nothing closes it later
        scope = Scope(_budget)
    assert scope is not None
    try:
        with _budget.reader() as token:
            yield lambda size: scope.take(size, token)
    finally:
        if own:
            scope.close()


def held() -> int:
    """Bytes held on this instance now (tests, logs)."""
    return _budget.held
