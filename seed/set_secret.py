"""Store a provider key in Secret Manager (the local drongo server, or a real project).

    python seed/set_secret.py OPENAI_API_KEY                 reads the key from stdin / a prompt
    python seed/set_secret.py OPENAI_API_KEY --project ID    into a real project's Secret Manager

The provider document names the secret (``secretName``); the key itself never
goes to Firestore. The providers naming this secret get the new version as
``keyVersion``, so every running function reads the new key as its listener
sees the document change (within a second).
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="the secret name a provider document's secretName refers to")
    target.add_arguments(parser)
    args = parser.parse_args()
    where = target.select(args.project)
    if not args.project and not os.environ.get("SECRET_MANAGER_EMULATOR_HOST"):
        state = target.ROOT / ".stack" / "env.json"
        os.environ.update(json.loads(state.read_text()) if state.is_file() else {})
    value = getpass.getpass(f"{args.name}: ") if sys.stdin.isatty() else sys.stdin.read().strip()
    if not value:
        sys.exit("no value given")
    from google.cloud.firestore_v1.base_query import FieldFilter

    from gateway import firebase, secrets

    version = secrets.put(args.name, value)
    print(f"stored {version} in {where}")
    # Providers using this secret get the new version: every running instance reads the key anew.
    providers = firebase.db().collection("providers").where(filter=FieldFilter("secretName", "==", args.name))
    for snap in providers.stream():
        snap.reference.update({"hasKey": True, "keyVersion": version})
        print(f"  providers/{snap.id}: keyVersion updated")


if __name__ == "__main__":
    main()
