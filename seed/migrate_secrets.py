"""Move provider keys from the secrets old provider documents named into the gateway's own secrets (once, by an operator).

    python seed/migrate_secrets.py --project ID [--dry-run]
    python seed/migrate_secrets.py                (the local emulators and drongo)

Before issue 19 a ``providers/{id}`` document named its key's secret itself
(``secretName``, free text). The gateway now reads ``AI_GATEWAY_PROVIDER_<ID>``
only and ignores that field, so a provider whose key lived elsewhere has no
key until it is moved. For each document that still names a secret, this
copies the latest version of that secret into the gateway's secret, sets
``hasKey``/``keyVersion`` and removes ``secretName`` (audited). A secret the
document named that cannot be found leaves the provider without a key (store
one with ``PATCH /providers/{id} {"apiKey": ...}`` or ``seed/set_secret.py``).
It runs with your credentials (Application Default Credentials), not the
functions': old secrets are read and never changed or deleted; delete them
yourself once nothing else uses them. Running it again does nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

try:
    from seed import target
except ImportError:  # run as a script
    import target  # type: ignore[no-redef]


def _old_key(client: Any, project: str, name: str) -> str | None:
    """The latest version of secret ``name`` as the old document named it (None when it does not exist)."""
    from google.api_core import exceptions

    try:
        response = client.access_secret_version(request={"name": f"projects/{project}/secrets/{name}/versions/latest"})
    except exceptions.NotFound:
        return None
    return str(response.payload.data.decode("utf-8"))


def migrate(dry_run: bool = False, actor: str = "migrate_secrets") -> dict[str, str]:
    """Move every named key; returns what happened per provider id (``moved``, ``renamed``, ``no key found``)."""
    from gateway import audit, firebase, secrets
    from gateway.schemas import key_binding

    client = secrets.client()
    if client is None:
        sys.exit(f"no Secret Manager: set {secrets.EMULATOR_ENV} or pass --project")
    project = firebase.project_id()
    done: dict[str, str] = {}
    for snap in firebase.db().collection("providers").stream():
        before = snap.to_dict() or {}
        old = before.get("secretName")
        if "secretName" not in before:
            continue
        name = secrets.name_for(snap.id)
        after = {k: v for k, v in before.items() if k != "secretName"}
        value: str | None = None
        if not old or old == name:
            done[snap.id] = "renamed"  # nothing to move: only the field goes
        else:
            value = _old_key(client, project, str(old))
            if value is None:
                done[snap.id] = "no key found"
                after.update({"hasKey": False, "keyVersion": None})
            else:
                done[snap.id] = "moved"
                if not dry_run:
                    after.update({"hasKey": True, "keyVersion": secrets.put(name, value)})
        if not dry_run and after.get("hasKey"):  # bind the key to the addresses it was stored for (schemas.key_binding)
            value = value if done[snap.id] == "moved" else _old_key(client, project, name)
            after["keyBinding"] = key_binding(value, snap.id, after) if value else None
        print(f"providers/{snap.id}: {done[snap.id]} ({old or '-'} -> {name})")
        if not dry_run:
            after["updatedAt"] = audit.now()
            batch = firebase.db().batch()
            audit.add_to_batch(batch, "providers", snap.id, actor, "update", before, after)
            batch.commit()
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target.add_arguments(parser)
    parser.add_argument("--dry-run", action="store_true", help="say what would move, change nothing")
    args = parser.parse_args()
    where = target.select(args.project)
    if not args.project and not os.environ.get("SECRET_MANAGER_EMULATOR_HOST"):
        state = target.ROOT / ".stack" / "env.json"
        os.environ.update(json.loads(state.read_text()) if state.is_file() else {})
    print(f"migrating provider keys in {where}{' (dry run)' if args.dry_run else ''}")
    done = migrate(args.dry_run)
    print(f"{len(done)} provider document(s) named their own secret")


if __name__ == "__main__":
    main()
