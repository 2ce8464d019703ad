"""Authentication and roles, through the real Auth emulator (and a production-signed path)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from fakes.certs import CertEndpoint, SigningKey
from fakes.server import FakeServer


def _unsigned(payload: dict[str, Any]) -> str:
    """An emulator-style token (alg none), as a forger would write one."""

    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(payload)}."


def _claims(project: str, uid: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": f"https://securetoken.google.com/{project}",
        "aud": project,
        "sub": uid,
        "user_id": uid,
        "iat": now - 60,
        "auth_time": now - 60,
        "exp": now + 3600,
        "firebase": {"identities": {}, "sign_in_provider": "password"},
    }
    claims.update(overrides)
    return claims


def _error(response: Any) -> dict[str, Any]:
    return response.get_json()["error"]


def test_missing_header_is_401(local, clean) -> None:
    response = local("models").get("/")
    assert response.status_code == 401
    assert _error(response)["code"] == "UNAUTHENTICATED"
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("header", ["Basic dXNlcjpwdw==", "Bearer", "Bearer    ", "token-without-scheme"])
def test_malformed_header_is_401(local, clean, header: str) -> None:
    response = local("models").get("/", headers={"Authorization": header})
    assert response.status_code == 401
    assert _error(response)["code"] == "UNAUTHENTICATED"


def test_garbage_token_is_401_and_not_echoed(local, clean) -> None:
    garbage = "not.a-real.tokenABCDEF123456"
    response = local("models").get("/", headers={"Authorization": f"Bearer {garbage}"})
    assert response.status_code == 401
    assert _error(response)["code"] == "UNAUTHENTICATED"
    assert garbage not in response.get_data(as_text=True)


def test_forged_expired_token_is_401(local, clean, emulators, accounts) -> None:
    uid = accounts["user"].uid
    expired = _unsigned(_claims(emulators.project, uid, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600))
    response = local("models").get("/", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert "expired" in _error(response)["message"]


def test_token_from_the_future_is_401(local, clean, emulators, accounts) -> None:
    future = int(time.time()) + 3600
    token = _unsigned(_claims(emulators.project, accounts["user"].uid, iat=future, auth_time=future, exp=future + 3600))
    response = local("models").get("/", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert (_error(response)["code"], _error(response)["message"]) == ("UNAUTHENTICATED", "ID token is invalid")


def test_token_for_another_project_is_401(local, clean, accounts) -> None:
    token = _unsigned(_claims("someone-elses-project", accounts["user"].uid))
    response = local("models").get("/", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert _error(response)["code"] == "UNAUTHENTICATED"


def test_valid_token_is_accepted(local, clean, accounts) -> None:
    response = local("models").get("/", headers=accounts["viewer"].headers)
    assert response.status_code == 200
    assert response.get_json() == {"models": [], "nextPageToken": None}


def test_role_falls_back_to_user_document_then_default(local, clean, emulators) -> None:
    from gateway import firebase

    no_claim = emulators.sign_up(role=None)
    # No claim, no users/{uid} document: the default role (viewer) may read but not write.
    assert local("models").get("/", headers=no_claim.headers).status_code == 200
    assert local("models").post("/", json={}, headers=no_claim.headers).get_json()["error"]["details"]["role"] == "viewer"
    # A users/{uid} role applies when there is no claim.
    firebase.db().collection("users").document(no_claim.uid).set({"role": "admin"})
    from gateway import auth

    auth.forget(no_claim.uid)
    response = local("models").post("/", json={"id": "x"}, headers=no_claim.headers)
    assert response.status_code == 400  # admin: past the role check, into validation


def test_claim_wins_over_user_document(local, clean, emulators) -> None:
    from gateway import firebase

    viewer = emulators.sign_up("viewer")
    firebase.db().collection("users").document(viewer.uid).set({"role": "admin"})
    response = local("models").post("/", json={"id": "x"}, headers=viewer.headers)
    assert response.status_code == 403
    assert _error(response)["code"] == "PERMISSION_DENIED"


def test_user_disabled_in_auth_is_refused(local, clean, emulators) -> None:
    from firebase_admin import auth

    from gateway import firebase

    account = emulators.sign_up("user")
    auth.update_user(account.uid, disabled=True, app=firebase.app())
    response = local("models").get("/", headers=account.headers)
    assert response.status_code == 403
    assert "disabled" in _error(response)["message"]


def test_user_disabled_in_firestore_is_refused(local, clean, emulators) -> None:
    from gateway import firebase

    account = emulators.sign_up("user")
    firebase.db().collection("users").document(account.uid).set({"disabled": True})
    assert local("models").get("/", headers=account.headers).status_code == 403


def test_revoked_token_is_401(local, clean, emulators) -> None:
    from firebase_admin import auth

    from gateway import auth as gateway_auth
    from gateway import firebase

    account = emulators.sign_up("user")
    assert local("models").get("/", headers=account.headers).status_code == 200
    time.sleep(1.1)  # revocation time has a one-second resolution
    auth.revoke_refresh_tokens(account.uid, app=firebase.app())
    gateway_auth.forget(account.uid)
    response = local("models").get("/", headers=account.headers)
    assert response.status_code == 401
    assert "revoked" in _error(response)["message"]


def test_revoked_token_is_401_once_the_user_cache_expires(local, clean, emulators, monkeypatch) -> None:
    """No forget(): a warm instance notices a revocation within USER_CACHE_SECONDS on its own."""
    from firebase_admin import auth

    from gateway import auth as gateway_auth
    from gateway import firebase

    monkeypatch.setenv("USER_CACHE_SECONDS", "1")
    monkeypatch.setattr(gateway_auth, "_accounts", None)  # made anew with the 1 s TTL; the old cache comes back afterwards
    account = emulators.sign_up("user")
    time.sleep(1.1)  # revocation time has a one-second resolution
    assert local("models").get("/", headers=account.headers).status_code == 200  # the account is now cached
    assert gateway_auth._accounts is not None and gateway_auth._accounts.ttl == 1
    auth.revoke_refresh_tokens(account.uid, app=firebase.app())
    time.sleep(1.5)
    response = local("models").get("/", headers=account.headers)
    assert response.status_code == 401
    assert _error(response)["code"] == "UNAUTHENTICATED"
    assert "revoked" in _error(response)["message"]


def test_token_of_a_deleted_user_is_401(local, clean, emulators) -> None:
    from firebase_admin import auth

    from gateway import auth as gateway_auth
    from gateway import firebase

    account = emulators.sign_up("user")
    assert local("models").get("/", headers=account.headers).status_code == 200
    auth.delete_user(account.uid, app=firebase.app())
    gateway_auth.forget(account.uid)
    response = local("models").get("/", headers=account.headers)
    assert response.status_code == 401
    assert _error(response)["code"] == "UNAUTHENTICATED"
    assert _error(response)["message"] == "User no longer exists"


@pytest.fixture
def production_auth(monkeypatch, emulators):
    """Verify tokens as production does: RS256 signatures against a certificate endpoint."""
    from firebase_admin import auth

    from gateway import auth as gateway_auth
    from gateway import firebase

    key = SigningKey("test-kid-1")
    with FakeServer(CertEndpoint, keys=[key]) as certs:
        verifier = auth._get_client(firebase.app())._token_verifier.id_token_verifier
        monkeypatch.setattr(verifier, "cert_url", certs.url)
        monkeypatch.delenv("FIREBASE_AUTH_EMULATOR_HOST")
        monkeypatch.setenv("AUTH_CHECK_REVOKED", "false")
        gateway_auth.forget()
        yield key
        gateway_auth.forget()


def test_production_signed_token_is_accepted(local, clean, emulators, production_auth) -> None:
    token = production_auth.token(emulators.project, "prod-user-1", role="viewer")
    response = local("models").get("/", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_production_wrongly_signed_token_is_401(local, clean, emulators, production_auth) -> None:
    impostor = SigningKey(production_auth.kid)  # same kid, another key
    token = impostor.token(emulators.project, "prod-user-1")
    response = local("models").get("/", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_production_unsigned_token_is_401(local, clean, emulators, production_auth) -> None:
    token = _unsigned(_claims(emulators.project, "prod-user-1"))
    assert local("models").get("/", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_production_expired_token_is_401(local, clean, emulators, production_auth) -> None:
    token = production_auth.token(emulators.project, "prod-user-1", lifetime=-3600)
    response = local("models").get("/", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert "expired" in _error(response)["message"]


OTHER_PROJECT = "someone-elses-project"


@pytest.mark.parametrize(
    "claims",
    [{"aud": OTHER_PROJECT, "iss": f"https://securetoken.google.com/{OTHER_PROJECT}"}, {"aud": OTHER_PROJECT}, {"iss": f"https://securetoken.google.com/{OTHER_PROJECT}"}],
    ids=["aud-and-iss", "aud", "iss"],
)
def test_production_token_for_another_project_is_401(local, clean, emulators, production_auth, claims: dict[str, str]) -> None:
    """Signed by Google's key (here: the test key), but minted for another Firebase project."""
    token = production_auth.token(emulators.project, "prod-user-1", **claims)
    response = local("models").get("/", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert (_error(response)["code"], _error(response)["message"]) == ("UNAUTHENTICATED", "ID token is invalid")


def test_production_token_from_the_future_is_401(local, clean, emulators, production_auth) -> None:
    future = int(time.time()) + 3600
    token = production_auth.token(emulators.project, "prod-user-1", iat=future, auth_time=future, exp=future + 3600)
    response = local("models").get("/", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert (_error(response)["code"], _error(response)["message"]) == ("UNAUTHENTICATED", "ID token is invalid")
