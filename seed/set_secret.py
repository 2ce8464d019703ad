"""Store a provider's key in Secret Manager (the local drongo server, or a real project).

    python seed/set_secret.py openai                 reads the key from stdin / a prompt
    python seed/set_secret.py openai --project ID    into a real project's Secret Manager
    python seed/set_secret.py openai --org acme      organisation acme's provider (orgs/acme/providers/openai)

The gateway names the secret after the provider (``AI_GATEWAY_PROVIDER_OPENAI``
for ``openai``; ``AI_GATEWAY_ORG_ACME__OPENAI`` for organisation ``acme``'s:
``gateway.secrets.name_for``); the key itself never goes to
Firestore. The provider document gets ``hasKey`` and the new version as
``keyVersion``, so every running function reads the new key as its listener
sees the document change (within a second). The same as
``PATCH /providers/{id} {"apiKey": ...}``, without the HTTP call.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys

try:
    from seed import target
except ImportError:  # run as a script
    import target  # type: ignore[no-redef]


def store(provider_id: str, value: str, org: str | None = None) -> str:
    """Store ``value`` as provider ``provider_id``'s key (of organisation ``org``) and point its document at it; returns the version name."""
    from gateway import audit, firebase, providers_store, secrets
    from gateway.schemas import key_binding

    where = providers_store.collection(org)
    ref = firebase.db().collection(where).document(provider_id)
    snap = ref.get()
    if not snap.exists:
        sys.exit(f"no {where}/{provider_id}: create the provider first (seed/load.py or POST /providers)")
    version = secrets.put(secrets.name_for(provider_id, org), value)
    before = snap.to_dict() or {}
    after = {k: v for k, v in before.items() if k != "secretName"}  # an old document's own secret name is no longer read
    after.update({"hasKey": True, "keyVersion": version, "keyBinding": key_binding(value, provider_id, after), "updatedAt": audit.now()})
    batch = firebase.db().batch()
    audit.add_to_batch(batch, where, provider_id, "seed", "update", before, after)
    batch.commit()
    return version


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("provider", help="the provider id (providers/{id}); its key goes to secret AI_GATEWAY_PROVIDER_<ID>")
    parser.add_argument("--org", help="an organisation's provider (orgs/{org}/providers/{id}); its key goes to AI_GATEWAY_ORG_<ORG>__<ID>")
    target.add_arguments(parser)
    args = parser.parse_args()
    where = target.select(args.project)
    if not args.project and not os.environ.get("SECRET_MANAGER_EMULATOR_HOST"):
        state = target.ROOT / ".stack" / "env.json"
        os.environ.update(json.loads(state.read_text()) if state.is_file() else {})
    value = getpass.getpass(f"key of provider {args.provider}: ") if sys.stdin.isatty() else sys.stdin.read().strip()
    if not value:
        sys.exit("no value given")
    version = store(args.provider, value, args.org)
    path = "providers" if args.org is None else f"orgs/{args.org}/providers"
    print(f"stored {version} in {where}; {path}/{args.provider}: hasKey, keyVersion updated")


if __name__ == "__main__":
    main()
