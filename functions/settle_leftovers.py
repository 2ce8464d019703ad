"""``settle_leftovers``: book the reservations no instance settled (scheduled every 15 minutes).

A request's reservation (``gateway.budgets``) is its durable record from the
moment it was admitted. Its instance settles it to what was used before the
answer ends; an instance killed mid-request never does, and the reservation
stays counted against the budgets at its worst case. This function books
such leftovers in full, marked ``unsettled`` and ``estimated``, once they are
older than the longest a request may run (the stream timeout and a margin),
so no admitted request is ever left out of the ledger.
"""

from __future__ import annotations

from datetime import timedelta

from firebase_functions import scheduler_fn

from gateway import deploy

GRACE_SECONDS = deploy.STREAM_TIMEOUT_SECONDS + 300
"""A reservation younger than this may still be settled by the request that made it."""


@scheduler_fn.on_schedule(schedule="every 15 minutes", timeout_sec=deploy.SWEEP_TIMEOUT_SECONDS)
def settle_leftovers(event: scheduler_fn.ScheduledEvent) -> None:
    from gateway import logs, usage

    booked = usage.sweep(timedelta(seconds=GRACE_SECONDS))
    logs.info("unsettled reservations booked in full", count=booked)
