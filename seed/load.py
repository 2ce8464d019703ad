"""Load the default providers and models; idempotent.

    python seed/load.py                 into the running local emulators
    python seed/load.py --project ID    into a real project (explicit)

Models go through the registry, so every change is audited like an API
write; a model or provider already equal to its seed is left alone.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

try:
    from seed import target
except ImportError:  # run as a script
    import target  # type: ignore[no-redef]

DATA = Path(__file__).resolve().parent / "data"


def _seed(name: str) -> list[dict[str, Any]]:
    return json.loads((DATA / name).read_text())


def load_providers(actor: str) -> int:
    """Write each seed provider that is missing or differs; returns how many were written."""
    from gateway import audit, firebase
    from gateway.schemas import KEY_BOUND

    db = firebase.db()
    written = 0
    for provider in _seed("providers.json"):
        doc_id = provider.pop("id")
        ref = db.collection("providers").document(doc_id)
        snap = ref.get()
        before = snap.to_dict() if snap.exists else None
        current = {k: v for k, v in (before or {}).items() if k in provider}
        if before is not None and current == provider:
            continue
        at = audit.now()
        after = {**(before or {}), **provider, "updatedAt": at, "createdAt": (before or {}).get("createdAt", at)}
        if before is not None and before.get("hasKey") and any((before.get(f) or None) != (after.get(f) or None) for f in KEY_BOUND):
            after.update({"hasKey": False, "keyVersion": None})  # a stored key never follows a provider to another address
            print(f"seed: providers/{doc_id} moved back to its seed address; store its key again (seed/set_secret.py {doc_id})")
        batch = db.batch()
        audit.add_to_batch(batch, "providers", doc_id, actor, "create" if before is None else "update", before, after)
        batch.commit()
        written += 1
    return written


def load_models(actor: str) -> int:
    """Create or replace each seed model that is missing or differs; returns how many were written."""
    from gateway.registry import registry
    from gateway.schemas import ModelSpec

    reg = registry()
    written = 0
    for raw in _seed("models.json"):
        spec = ModelSpec.model_validate(raw)
        existing = reg.get(spec.id)
        if existing is None:
            reg.create(spec, actor)
        elif ModelSpec.model_validate(existing.model_dump(include=set(ModelSpec.model_fields))) != spec:
            reg.replace(spec, actor)
        else:
            continue
        written += 1
    return written


def load_all(actor: str = "seed") -> tuple[int, int]:
    providers, models = load_providers(actor), load_models(actor)
    print(f"seed: {providers} provider(s) and {models} model(s) written")
    return providers, models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target.add_arguments(parser)
    args = parser.parse_args()
    print(f"seed: loading into {target.select(args.project)}")
    load_all()


if __name__ == "__main__":
    main()
