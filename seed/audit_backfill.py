"""Bring old audit records up to today's shape (once, by an operator): emails of the people, no key bindings.

    python seed/audit_backfill.py --project ID [--dry-run]
    python seed/audit_backfill.py                (the local emulators)

Records written before the gateway kept ``actorEmail`` name the admin by uid
only; this looks each uid up in Firebase Auth (100 at a time) and adds the
email, so the admins' audit page names people without a lookup of its own.
A uid Auth no longer knows (a deleted account) stays a uid. Records written
before ``keyBinding`` was kept out of the trail (an HMAC keyed with a
provider's API key: a way to test guesses of a weak key) lose it from
``before``/``after``. Nothing else changes; running it again does nothing.
It runs with your credentials (Application Default Credentials).
"""

from __future__ import annotations

import argparse
from typing import Any

try:
    from seed import target
except ImportError:  # run as a script
    import target  # type: ignore[no-redef]

NOT_PEOPLE = frozenset({"console"})
"""Actors that are not accounts (the trigger's). Seed scripts' names are looked up and simply not found."""


def _emails(uids: set[str]) -> dict[str, str]:
    """The email of each uid Auth knows (100 per call, its limit)."""
    from firebase_admin import auth

    from gateway import firebase

    found: dict[str, str] = {}
    ordered = sorted(uids)
    for start in range(0, len(ordered), 100):
        chunk = [auth.UidIdentifier(uid) for uid in ordered[start : start + 100] if 0 < len(uid) <= 128]
        if not chunk:
            continue
        for user in auth.get_users(chunk, app=firebase.app()).users:
            if user.email:
                found[user.uid] = user.email
    return found


def _scrubbed(data: Any) -> Any:
    from gateway import audit

    if not isinstance(data, dict):
        return data
    return {k: v for k, v in data.items() if k not in audit.UNAUDITED}


def backfill(dry_run: bool = False) -> dict[str, int]:
    """Add ``actorEmail`` where Auth knows the uid, drop ``keyBinding``; returns how many records got each."""
    from gateway import audit, firebase

    db = firebase.db()
    snaps = list(db.collection(audit.COLLECTION).stream())
    wanted = {str(s.get("actor")) for s in snaps if not (s.to_dict() or {}).get("actorEmail") and s.get("actor") not in NOT_PEOPLE}
    emails = _emails(wanted)
    counts = {"emails": 0, "scrubbed": 0}
    batch, queued = db.batch(), 0
    for snap in snaps:
        data = snap.to_dict() or {}
        change: dict[str, Any] = {}
        if not data.get("actorEmail") and data.get("actor") in emails:
            change["actorEmail"] = emails[data["actor"]]
            counts["emails"] += 1
        for side in ("before", "after"):
            if isinstance(data.get(side), dict) and set(data[side]) & audit.UNAUDITED:
                change[side] = _scrubbed(data[side])
        if "before" in change or "after" in change:
            counts["scrubbed"] += 1
        if change and not dry_run:
            batch.update(snap.reference, change)
            queued += 1
            if queued == 400:  # a batch holds at most 500 writes
                batch.commit()
                batch, queued = db.batch(), 0
    if queued:
        batch.commit()
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target.add_arguments(parser)
    parser.add_argument("--dry-run", action="store_true", help="count what would change, change nothing")
    args = parser.parse_args()
    where = target.select(args.project)
    counts = backfill(args.dry_run)
    print(f"{where}: {counts['emails']} record(s) given an email, {counts['scrubbed']} cleared of key bindings{' (dry run)' if args.dry_run else ''}")


if __name__ == "__main__":
    main()
