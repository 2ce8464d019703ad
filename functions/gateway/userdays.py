"""A user's daily totals, spread over ``USAGE_DAY_SHARDS`` documents so one busy caller does not make a hot document.

Firestore takes about one sustained write per second on one document, and
every request of a user is booked on that user's day. So the day is several
documents whose ``date`` is the day, and every reader sums them:

- ``usage/{uid}/days/{day}``, the primary: what reserving writes (a budget's
  reservations and extensions, and what takes them back unused: refusals,
  lease give-backs). Its commit answers with its totals, so reservations are
  ordered there and a budget check is exact under any concurrency. Far from
  the limits a lease covers ``BUDGET_LEASE_FACTOR`` more requests, so it
  takes one write per five requests; it is also the document written before
  the shards existed, so the day of an upgrade keeps its totals.
- ``usage/{uid}/days/{day}-{shard}``: what booking writes (every settle and
  every entry with no budget), one of ``USAGE_DAY_SHARDS`` at random, and
  read right after a reservation's commit when a user budget applies. A
  settle only ever lowers what a request holds, and a settle read but not
  ordered before this reservation belongs to a request that was admitted with
  this one counted, so reading them late never lets a budget be overspent.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

from gateway import firebase, settings

AMOUNTS = ("requests", "errors", "promptTokens", "completionTokens", "totalTokens", "cachedTokens", "reasoningTokens", "estimatedTokens", "images", "cost", "reservedTokens", "reservedCost")
"""The summed fields of a day."""
PRIMARY = -1
"""The shard number of the primary ``days/{day}`` document (reservations; the whole day before shards existed)."""


def shards() -> int:
    return max(1, settings.USAGE_DAY_SHARDS.value)


def pick() -> int:
    """The shard a booking goes to: one at random (no coordination between instances)."""
    return random.randrange(shards())


def doc_id(day: str, shard: int) -> str:
    return day if shard == PRIMARY else f"{day}-{shard}"


def ref(uid: str, day: str, shard: int) -> Any:
    return firebase.db().collection("usage").document(uid).collection("days").document(doc_id(day, shard))


def shard_of(doc: str) -> int:
    """The shard number of a day document's id (:data:`PRIMARY` for ``yyyy-mm-dd``)."""
    return int(doc[11:]) if len(doc) > 11 else PRIMARY


def rows(uid: str, day: str, timeout: float | None = None) -> list[Any]:
    """Every document of ``uid``'s ``day`` (shards and the unsharded one), as snapshots."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    days = firebase.db().collection("usage").document(uid).collection("days")
    query = days.where(filter=FieldFilter("date", "==", day))
    return list(query.stream(retry=None, timeout=timeout) if timeout is not None else query.stream())


def total(docs: Iterable[dict[str, Any]], floor: bool = True) -> dict[str, Any]:
    """The day's totals: the sum of its documents' amounts.

    One shard's amounts may be below zero (a settle books on another shard than the reservation it releases);
    the day's are not (``floor``; a day deleted by hand under reservations would otherwise make room).
    """
    docs = list(docs)
    out: dict[str, Any] = {key: sum(doc.get(key) or 0 for doc in docs) for key in AMOUNTS}
    if not floor:
        return out
    for key in ("cost", "reservedCost"):
        out[key] = max(0.0, round(out[key], 10))
    out["reservedTokens"] = max(0, out["reservedTokens"])
    return out


def others(uid: str, day: str, shard: int, timeout: float, org: str | None = None) -> dict[str, Any]:
    """The day's totals over every document but ``shard`` (read after this request's own commit to it).

    With ``org``, also the sums of its nested ``orgs.<org>.*`` amounts (the member's share in that organisation), keyed so.
    """
    own = doc_id(day, shard)
    docs = [snap.to_dict() or {} for snap in rows(uid, day, timeout) if snap.id != own]
    out = total(docs, floor=False)
    if org is not None:
        for key in ORG_AMOUNTS:
            out[f"orgs.{org}.{key}"] = sum(((doc.get("orgs") or {}).get(org) or {}).get(key) or 0 for doc in docs)
    return out


ORG_AMOUNTS = ("requests", "totalTokens", "cost", "reservedTokens", "reservedCost")
"""The amounts a day keeps per organisation (``orgs.<org>.*``): what a member's quota in it is judged on."""
