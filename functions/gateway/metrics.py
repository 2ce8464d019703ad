"""Latency histograms and nested totals: what the ledger's day documents carry beside their flat sums.

A percentile cannot be summed over documents, a histogram can. So every
booking adds one to a bucket of fixed, log-spaced bounds (:data:`BOUNDS`,
1 ms to about 10 minutes in steps of 1.25×) on the day shard it already
writes, and a reader sums the buckets of any set of shards, days, models or
routes and reads percentiles off the sum (:func:`percentiles`). The answer
is within the bucket of the true value: at most 25% off (the bucket's width),
interpolated linearly inside the bucket.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from typing import Any

STEP = 1.25
BOUNDS: tuple[float, ...] = tuple(float(f"{STEP ** i:.3g}") for i in range(61))
"""Upper bounds (ms, inclusive) of the latency buckets: 1, 1.25, 1.56, ... 653000 (about 10.9 minutes)."""
OVERFLOW = "inf"
"""The bucket of latencies above the last bound."""
KEYS: tuple[str, ...] = tuple(f"{bound:g}" for bound in BOUNDS) + (OVERFLOW,)
"""The buckets' field names, in order: the upper bound in ms (``"1.56"``, ``"1260"``), then ``"inf"``."""
_UPPER = {key: bound for key, bound in zip(KEYS, BOUNDS, strict=False)}


def bucket(latency_ms: float) -> str:
    """The field name of the bucket ``latency_ms`` falls in (the first bound at or above it)."""
    index = bisect_left(BOUNDS, max(0.0, latency_ms))
    return KEYS[index] if index < len(BOUNDS) else OVERFLOW


def add(into: dict[str, Any], other: Mapping[str, Any]) -> dict[str, Any]:
    """Add ``other``'s numbers into ``into``, map by map (nested totals: ``routes.<route>.latency.<bucket>``)."""
    for key, value in other.items():
        if isinstance(value, Mapping):
            add(into.setdefault(key, {}), value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            into[key] = into.get(key, 0) + value
    return into


def total(maps: Iterable[Mapping[str, Any] | None]) -> dict[str, Any]:
    """The sum of nested maps of numbers (missing ones count as empty)."""
    out: dict[str, Any] = {}
    for one in maps:
        if isinstance(one, Mapping):
            add(out, one)
    return out


def percentiles(histogram: Mapping[str, Any]) -> dict[str, float | None]:
    """p50/p95/p99 (ms) and the count of a summed histogram; the values are None when it is empty.

    The rank's bucket is found from the cumulative counts, and the value is
    interpolated linearly between the bucket's lower and upper bound (so it is
    in the same bucket as the true value). Above the last bound the last bound
    is answered: a lower bound.
    """
    counts = [int(histogram.get(key) or 0) for key in KEYS]
    count = sum(counts)
    out: dict[str, float | None] = {"p50": None, "p95": None, "p99": None, "count": count}
    if count == 0:
        return out
    for name, q in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
        rank = max(1.0, q * count)
        seen = 0
        for index, n in enumerate(counts):
            if n and seen + n >= rank:
                if index >= len(BOUNDS):
                    out[name] = BOUNDS[-1]
                else:
                    lower = BOUNDS[index - 1] if index else 0.0
                    out[name] = round(lower + (BOUNDS[index] - lower) * (rank - seen) / n, 1)
                break
            seen += n
    return out


def upper(key: str) -> float:
    """The upper bound (ms) of bucket ``key`` (infinity for the overflow bucket)."""
    return _UPPER.get(key, math.inf)


SUMS = ("requests", "errors", "promptTokens", "completionTokens", "totalTokens", "cost")
"""The totals of a metrics report's groups (``GET /usage/metrics``)."""
DAILY = ("requests", "errors", "totalTokens", "cost")
"""A group's totals per day."""


class _Group:
    """One row of a report (a model, a provider, a route): totals, a histogram, and totals per day."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.sums: dict[str, Any] = dict.fromkeys(SUMS, 0)
        self.latency: dict[str, Any] = {}
        self.days: dict[str, dict[str, Any]] = {}
        self.provider: str | None = None

    def add(self, day: str, row: Mapping[str, Any], latency: Mapping[str, Any] | None) -> None:
        daily = self.days.setdefault(day, {"date": day, **dict.fromkeys(DAILY, 0)})
        for key in SUMS:
            value = row.get(key) or 0
            self.sums[key] += value
            if key in daily:
                daily[key] += value
        if isinstance(latency, Mapping):
            add(self.latency, latency)

    def answer(self, with_provider: bool = False) -> dict[str, Any]:
        daily = [_rounded(d) for _, d in sorted(self.days.items()) if any(d[key] for key in DAILY)]
        out = {"key": self.key, **({"provider": self.provider} if with_provider else {}), **_rounded(self.sums)}
        return {**out, "latencyMs": percentiles(self.latency), "daily": daily}


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "cost": round(row["cost"], 10)} if "cost" in row else row


def _ranked(groups: dict[str, _Group], with_provider: bool = False) -> list[dict[str, Any]]:
    """Busiest first (then by key): what a dashboard shows at the top."""
    return [g.answer(with_provider) for g in sorted(groups.values(), key=lambda g: (-g.sums["requests"], g.key))]


def report(model_days: Iterable[tuple[str, str, Mapping[str, Any]]]) -> dict[str, Any]:
    """``totals``/``byModel``/``byProvider``/``byRoute`` of (modelId, day, the model's day totals) rows.

    A day written before the breakdowns existed has no provider (``null`` on
    its model, ``"unknown"`` among providers), histogram or routes (no route
    row; its requests count in the totals, not in any percentile).
    """
    everything = _Group("")
    models: dict[str, _Group] = {}
    providers: dict[str, _Group] = {}
    routes: dict[str, _Group] = {}
    for model_id, day, row in model_days:
        latency = row.get("latency")
        everything.add(day, row, latency)
        model = models.setdefault(model_id, _Group(model_id))
        model.add(day, row, latency)
        provider = row.get("provider") if isinstance(row.get("provider"), str) else None
        model.provider = provider or model.provider
        providers.setdefault(provider or "unknown", _Group(provider or "unknown")).add(day, row, latency)
        for route, sums in (row.get("routes") or {}).items():
            if isinstance(sums, Mapping):
                routes.setdefault(route, _Group(route)).add(day, sums, sums.get("latency"))
    totals = {**_rounded(everything.sums), "latencyMs": percentiles(everything.latency)}
    return {"totals": totals, "byModel": _ranked(models, True), "byProvider": _ranked(providers), "byRoute": _ranked(routes)}
