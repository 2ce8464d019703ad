"""Set a user's role claim (admin, user, viewer) by email or uid.

    python seed/set_role.py --email someone@example.com --role admin
    python seed/set_role.py --uid abc123 --role viewer --project my-project

The claim reaches the user's ID token on its next refresh
(``user.getIdToken(true)`` or within the hour); ``users/{uid}.role`` is
updated too so the fallback agrees.
"""

from __future__ import annotations

import argparse

try:
    from seed import target
except ImportError:  # run as a script
    import target  # type: ignore[no-redef]

ROLES = ("admin", "user", "viewer")


def set_role(role: str, email: str | None = None, uid: str | None = None) -> str:
    from firebase_admin import auth

    from gateway import firebase

    if role not in ROLES:
        raise SystemExit(f"role must be one of {', '.join(ROLES)}")
    app = firebase.app()
    user = auth.get_user_by_email(email, app=app) if email else auth.get_user(uid, app=app)
    claims = dict(user.custom_claims or {})
    claims["role"] = role
    auth.set_custom_user_claims(user.uid, claims, app=app)
    firebase.db().collection("users").document(user.uid).set({"role": role}, merge=True)
    return user.uid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--email")
    who.add_argument("--uid")
    parser.add_argument("--role", required=True, choices=ROLES)
    target.add_arguments(parser)
    args = parser.parse_args()
    where = target.select(args.project)
    uid = set_role(args.role, email=args.email, uid=args.uid)
    print(f"set role {args.role} on {uid} in {where}")


if __name__ == "__main__":
    main()
