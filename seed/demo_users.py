"""Create the three demo accounts in the Auth emulator (never a real project)."""

from __future__ import annotations

import os

try:
    from seed import target
except ImportError:  # run as a script
    import target  # type: ignore[no-redef]

PASSWORD = "demo-password"
ACCOUNTS = (("admin@demo.test", "admin"), ("user@demo.test", "user"), ("viewer@demo.test", "viewer"))


def create_all() -> list[tuple[str, str]]:
    """Create (or reset) each demo account with its role claim and users/{uid} document."""
    from firebase_admin import auth

    from gateway import firebase

    if not os.environ.get("FIREBASE_AUTH_EMULATOR_HOST"):
        raise SystemExit("demo accounts are for the Auth emulator only")
    app = firebase.app()
    for email, role in ACCOUNTS:
        try:
            user = auth.get_user_by_email(email, app=app)
            auth.update_user(user.uid, password=PASSWORD, app=app)
        except auth.UserNotFoundError:
            user = auth.create_user(email=email, password=PASSWORD, email_verified=True, app=app)
        auth.set_custom_user_claims(user.uid, {"role": role}, app=app)
        firebase.db().collection("users").document(user.uid).set({"email": email, "role": role}, merge=True)
    return list(ACCOUNTS)


if __name__ == "__main__":
    target.select(None)
    for email, role in create_all():
        print(f"{email} ({role}) password {PASSWORD}")
