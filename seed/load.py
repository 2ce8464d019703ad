"""Load the default providers and models; idempotent.

    python seed/load.py                 into the running local emulators
    python seed/load.py --project ID    into a real project (explicit)

Locally the seed is the truth: a provider or model that differs from its seed
is rewritten, so ``make seed`` repairs a dev stack. A real project belongs to
its admins, so there the seed only adds what is missing: it never updates or
disables an existing document (safe to run again from CI), and it leaves out
the providers on a loopback address (LM Studio, Ollama on ``localhost``: a
Cloud Function cannot reach them, ``health`` would say unhealthy and their
models answer 502) and the models that route to them. It prints what it
skipped and why.

Every write is audited like an API write; a model goes through the registry.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

try:
    from seed import target
except ImportError:  # run as a script
    import target  # type: ignore[no-redef]

DATA = Path(__file__).resolve().parent / "data"
URL_FIELDS = ("baseUrl", "imageBaseUrl", "healthCheckUrl")
Report = Callable[[str], None]


def _seed(name: str) -> list[dict[str, Any]]:
    return json.loads((DATA / name).read_text())


def _say(line: str) -> None:
    print(f"seed: {line}")


def is_loopback(url: str | None) -> bool:
    """Whether ``url`` names this machine (``localhost``, ``127.0.0.0/8``, ``::1``): nothing a deployed function can reach."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".") if url else ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def local_only(provider: dict[str, Any]) -> str | None:
    """The loopback URL of a seed provider, if it has one (None: it is reachable from the cloud)."""
    return next((provider[f] for f in URL_FIELDS if is_loopback(provider.get(f))), None)


def load_providers(actor: str, *, real_project: bool = False, report: Report = _say) -> int:
    """Write each seed provider that is missing (locally: or differs); returns how many were written.

    ``real_project``: create only, and leave out the providers that live on a loopback address.
    """
    from google.api_core.exceptions import AlreadyExists

    from gateway import audit, firebase
    from gateway.schemas import key_moved

    db = firebase.db()
    written = 0
    for provider in _seed("providers.json"):
        doc_id = provider.pop("id")
        if real_project and (url := local_only(provider)):
            report(f"skipped provider {doc_id}: {url} is a loopback address, which a deployed function cannot reach"
                   " (add it through `providers` with an address it can reach)")
            continue
        ref = db.collection("providers").document(doc_id)
        snap = ref.get()
        before = snap.to_dict() if snap.exists else None
        if real_project and before is not None:
            report(f"kept provider {doc_id} as it is: it exists, and seeding a real project never changes what is there")
            continue
        current = {k: v for k, v in (before or {}).items() if k in provider}
        if before is not None and current == provider:
            continue
        at = audit.now()
        after = {**(before or {}), **provider, "updatedAt": at, "createdAt": (before or {}).get("createdAt", at)}
        if before is not None and before.get("hasKey") and key_moved(before, after):
            after.update({"hasKey": False, "keyVersion": None, "keyBinding": None})  # a stored key never follows a provider to another address
            print(f"seed: providers/{doc_id} moved back to its seed address; store its key again (seed/set_secret.py {doc_id})")
        batch = db.batch()
        audit.add_to_batch(batch, "providers", doc_id, actor, "create" if before is None else "update", before, after, create=real_project)
        try:
            batch.commit()
        except AlreadyExists:  # created meanwhile (e.g. by an admin): theirs stands
            report(f"kept provider {doc_id} as it is: it was created meanwhile")
            continue
        written += 1
    return written


def load_models(actor: str, *, real_project: bool = False, report: Report = _say) -> int:
    """Create (locally: or replace) each seed model that is missing or differs; returns how many were written.

    ``real_project``: create only, and leave out the models whose provider is a loopback one.
    """
    from gateway.errors import ErrorCode, GatewayError
    from gateway.registry import registry
    from gateway.schemas import ModelSpec

    local = {p["id"]: url for p in _seed("providers.json") if (url := local_only(p))}
    reg = registry()
    written = 0
    for raw in _seed("models.json"):
        spec = ModelSpec.model_validate(raw)
        if real_project:
            if spec.provider in local:
                report(f"skipped model {spec.id}: its provider {spec.provider} is local only ({local[spec.provider]})")
                continue
            try:
                reg.create(spec, actor)
            except GatewayError as exc:
                if exc.code != ErrorCode.ALREADY_EXISTS:
                    raise
                report(f"kept model {spec.id} as it is: it exists, and seeding a real project never changes what is there")
                continue
            written += 1
            continue
        existing = reg.get(spec.id)
        if existing is None:
            reg.create(spec, actor)
        elif ModelSpec.model_validate(existing.model_dump(include=set(ModelSpec.model_fields))) != spec:
            reg.replace(spec, actor)
        else:
            continue
        written += 1
    return written


def load_all(actor: str = "seed", *, real_project: bool = False, report: Report = _say) -> tuple[int, int]:
    providers = load_providers(actor, real_project=real_project, report=report)
    models = load_models(actor, real_project=real_project, report=report)
    report(f"{providers} provider(s) and {models} model(s) written")
    return providers, models


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target.add_arguments(parser)
    args = parser.parse_args(argv)
    where = target.select(args.project)
    real_project = bool(args.project)  # the same test target.select makes
    _say(f"loading into {where}" + (" (create only: existing documents are left as they are)" if real_project else ""))
    load_all(real_project=real_project)


if __name__ == "__main__":
    main()
