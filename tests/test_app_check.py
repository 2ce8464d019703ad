"""App Check: off, monitor and enforce per function, limited-use tokens, CORS.

The emulators have no App Check, so the production path runs for real:
tokens are RS256-signed by a test key, and the Admin SDK's JWKS fetch and
replay check are pointed at a loopback server (``fakes/app_check_server.py``)
that plays App Check's endpoints.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fakes.app_check_server import AppCheckEndpoint, AppCheckKey
from fakes.server import FakeServer

BODY = {"modelId": "openai-chat", "prompt": "hi"}


@pytest.fixture
def app_check(monkeypatch, emulators, providers):
    """App Check's endpoints on loopback, a signing key, and clean verdict caches."""
    from firebase_admin import app_check as sdk
    from jwt import PyJWKClient

    from gateway import appcheck, firebase

    key = AppCheckKey("app-check-kid-1")
    with FakeServer(AppCheckEndpoint, keys=[key]) as server:
        service = sdk._get_app_check_service(firebase.app())
        monkeypatch.setattr(service, "_jwks_client", PyJWKClient(f"{server.url}/v1/jwks", lifespan=21600))
        monkeypatch.setattr(sdk._AppCheckService, "_VERIFY_URL_FORMAT", server.url + "/v1beta/projects/{project_id}:verifyAppCheckToken")
        appcheck.forget()
        yield key, server
        appcheck.forget()


def _call(local, function: str, account, token: str | None = None, method: str = "GET", **kwargs: Any) -> Any:
    headers = dict(account.headers)
    if token is not None:
        headers["X-Firebase-AppCheck"] = token
    return local(function).open("/", method=method, headers=headers, **kwargs)


def _error(response: Any) -> dict[str, Any]:
    return response.get_json()["error"]


def test_off_by_default_ignores_the_header(local, accounts, app_check, emulators) -> None:
    assert _call(local, "models", accounts["viewer"]).status_code == 200
    assert _call(local, "models", accounts["viewer"], "garbage").status_code == 200


def test_enforce_refuses_a_missing_token_naming_app_check(local, accounts, app_check, monkeypatch) -> None:
    monkeypatch.setenv("APP_CHECK", "enforce")
    response = _call(local, "models", accounts["viewer"])
    assert response.status_code == 401
    error = _error(response)
    assert error["code"] == "UNAUTHENTICATED" and "App Check" in error["message"] and error["details"] == {"appCheck": "missing"}


def test_enforce_accepts_a_valid_token(local, accounts, app_check, emulators, monkeypatch) -> None:
    key, _ = app_check
    monkeypatch.setenv("APP_CHECK", "enforce")
    token = key.token(emulators.project)
    assert _call(local, "models", accounts["viewer"], token).status_code == 200
    assert _call(local, "generate_text", accounts["user"], token, "POST", json=BODY).status_code == 200


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda key, project: AppCheckKey(key.kid).token(project), id="signed-by-another-key"),
        pytest.param(lambda key, project: key.token(project, lifetime=-60), id="expired"),
        pytest.param(lambda key, project: key.token("someone-elses-project"), id="another-project"),
        pytest.param(lambda key, project: key.token(project).rsplit(".", 1)[0] + ".", id="signature-stripped"),
        pytest.param(lambda key, project: "not-a-token", id="garbage"),
    ],
)
def test_enforce_refuses_a_bad_token(local, accounts, app_check, emulators, monkeypatch, forge) -> None:
    key, _ = app_check
    monkeypatch.setenv("APP_CHECK", "enforce")
    response = _call(local, "models", accounts["viewer"], forge(key, emulators.project))
    assert response.status_code == 401
    assert _error(response)["details"] == {"appCheck": "invalid"} and "App Check" in _error(response)["message"]


def test_monitor_serves_and_counts(local, accounts, app_check, emulators, monkeypatch, capsys) -> None:
    from gateway import appcheck

    key, _ = app_check
    monkeypatch.setenv("APP_CHECK", "monitor")
    assert _call(local, "models", accounts["viewer"]).status_code == 200
    assert _call(local, "models", accounts["viewer"], "forged").status_code == 200
    assert _call(local, "models", accounts["viewer"], key.token(emulators.project)).status_code == 200
    assert appcheck.counts == {"models:missing": 1, "models:invalid": 1, "models:valid": 1}
    out = capsys.readouterr().out
    assert '"appCheck": "missing"' in out and '"appCheck": "invalid"' in out


def test_modes_per_function(local, accounts, app_check, monkeypatch) -> None:
    monkeypatch.setenv("APP_CHECK", "enforce, openai=off, usage=monitor")
    assert _call(local, "models", accounts["viewer"]).status_code == 401
    assert _call(local, "usage", accounts["viewer"]).status_code == 200
    assert local("openai").get("/v1/models", headers=accounts["viewer"].headers).status_code == 200
    assert local("health").get("/").status_code == 200  # public: never checked


def test_openai_edge_refuses_in_its_own_error_shape(local, accounts, app_check, monkeypatch) -> None:
    monkeypatch.setenv("APP_CHECK", "openai=enforce")
    response = local("openai").get("/v1/models", headers=accounts["viewer"].headers)
    assert response.status_code == 401
    assert "App Check" in response.get_json()["error"]["message"]


def test_a_typo_in_the_mode_fails_closed(local, accounts, app_check, monkeypatch) -> None:
    monkeypatch.setenv("APP_CHECK", "enforced")
    assert _call(local, "models", accounts["viewer"]).status_code == 401


def test_limited_use_token_is_consumed_once(local, accounts, app_check, emulators, monkeypatch) -> None:
    key, server = app_check
    monkeypatch.setenv("APP_CHECK", "enforce")
    monkeypatch.setenv("APP_CHECK_CONSUME", "generate_text,models")
    token = key.token(emulators.project)
    assert _call(local, "generate_text", accounts["user"], token, "POST", json=BODY).status_code == 200
    replayed = _call(local, "generate_text", accounts["user"], token, "POST", json=BODY)
    assert replayed.status_code == 401
    assert _error(replayed)["details"] == {"appCheck": "replayed"} and "already used" in _error(replayed)["message"]
    assert server.state["consumed"] == [token, token]
    # models is not a generation route: its token is verified, not consumed, and may be reused
    assert _call(local, "models", accounts["viewer"], token).status_code == 200
    assert _call(local, "models", accounts["viewer"], token).status_code == 200
    assert server.state["consumed"] == [token, token]


def test_replay_check_unreachable_is_a_503_when_enforcing(local, accounts, app_check, emulators, monkeypatch) -> None:
    key, server = app_check
    server.state["fail"] = True
    monkeypatch.setenv("APP_CHECK", "enforce")
    monkeypatch.setenv("APP_CHECK_CONSUME", "generate_text")
    response = _call(local, "generate_text", accounts["user"], key.token(emulators.project), "POST", json=BODY)
    assert response.status_code == 503 and _error(response)["code"] == "UNAVAILABLE"
    monkeypatch.setenv("APP_CHECK", "monitor")
    assert _call(local, "generate_text", accounts["user"], key.token(emulators.project), "POST", json=BODY).status_code == 200


@pytest.mark.parametrize("with_token", [False, True], ids=["no-app-check-token", "valid-limited-use-token"])
def test_a_bad_id_token_is_refused_whatever_app_check_says(local, app_check, emulators, monkeypatch, with_token) -> None:
    """The ID token is the first credential: a bad one is its own 401, whether App Check passes, fails or is still running."""
    key, _ = app_check
    monkeypatch.setenv("APP_CHECK", "enforce")
    monkeypatch.setenv("APP_CHECK_CONSUME", "generate_text")
    headers = {"Authorization": "Bearer garbage"}
    if with_token:
        headers["X-Firebase-AppCheck"] = key.token(emulators.project)
    for function, method in (("models", "GET"), ("generate_text", "POST")):
        response = local(function).open("/", method=method, headers=headers, json=BODY)
        assert response.status_code == 401
        assert _error(response)["message"] == "ID token is invalid" and "appCheck" not in _error(response)["details"]
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_app_check_is_verified_beside_the_id_token(local, accounts, app_check, emulators, monkeypatch) -> None:
    """The replay check is held until the ID token is being checked: served only if both run at once."""
    import threading

    from gateway import auth

    key, server = app_check
    monkeypatch.setenv("APP_CHECK", "enforce")
    monkeypatch.setenv("APP_CHECK_CONSUME", "generate_text")
    server.state["hold"] = released = threading.Event()
    authenticate = auth.authenticate

    def authenticate_and_release(request: Any) -> Any:
        released.set()  # App Check's call is already out (or it would never have been answered)
        return authenticate(request)

    monkeypatch.setattr(auth, "authenticate", authenticate_and_release)
    response = _call(local, "generate_text", accounts["user"], key.token(emulators.project), "POST", json=BODY)
    assert response.status_code == 200, response.get_json()
    assert len(server.state["calls"]) == 1


def test_a_permission_refusal_is_reported_as_one(local, accounts, app_check, emulators, monkeypatch, capsys) -> None:
    """App Check's IAM 403 is the gateway's misconfiguration: not 'try again', not 'invalid token'; the remedy for admins only."""
    from gateway import appcheck

    key, server = app_check
    server.state["deny"] = True
    monkeypatch.setenv("APP_CHECK", "enforce")
    monkeypatch.setenv("APP_CHECK_CONSUME", "generate_text")
    response = _call(local, "generate_text", accounts["user"], key.token(emulators.project), "POST", json=BODY)
    assert response.status_code == 500
    error = _error(response)
    assert error["code"] == "INTERNAL" and error["details"] == {"appCheck": "permission_denied"}
    assert "administrator" in error["message"] and "try again" not in error["message"]
    assert "roles/" not in response.get_data(as_text=True)  # no IAM details to a user
    admin = _call(local, "generate_text", accounts["admin"], key.token(emulators.project), "POST", json=BODY)
    assert admin.status_code == 500 and appcheck.VERIFIER_ROLE in _error(admin)["details"]["remedy"]
    logged = [json.loads(line) for line in capsys.readouterr().err.splitlines() if "replay check refused" in line]
    assert logged and logged[0]["severity"] == "ERROR" and logged[0]["role"] == "roles/firebaseappcheck.tokenVerifier"
    monkeypatch.setenv("APP_CHECK", "monitor")  # monitor serves, and counts it as what it is
    assert _call(local, "generate_text", accounts["user"], key.token(emulators.project), "POST", json=BODY).status_code == 200
    assert appcheck.counts["generate_text:permission_denied"] == 3


def test_an_invalid_token_refused_by_the_replay_check_is_still_invalid(local, accounts, app_check, emulators, monkeypatch) -> None:
    """App Check also answers 403 for a token it rejects: without IAM's reason, that is the token's fault (401)."""
    key, server = app_check
    monkeypatch.setenv("APP_CHECK", "enforce")
    monkeypatch.setenv("APP_CHECK_CONSUME", "generate_text")
    token = key.token(emulators.project)
    server.state["reject"] = {token}
    response = _call(local, "generate_text", accounts["user"], token, "POST", json=BODY)
    assert response.status_code == 401 and _error(response)["details"] == {"appCheck": "invalid"}


def test_health_reports_the_missing_permission(local, app_check, providers, monkeypatch, capsys) -> None:
    """``health`` is public: it says what is wrong; the role to grant goes to the logs only."""
    from gateway import answers, appcheck, health

    _, server = app_check
    health.reset()
    assert "appCheck" not in local("health").get("/").get_json()  # no replay protection: nothing to check
    monkeypatch.setenv("APP_CHECK", "enforce")
    monkeypatch.setenv("APP_CHECK_CONSUME", "generate_text,generate_image")
    body = local("health").get("/").get_json()
    answers.HealthReport.model_validate(body)
    assert body["status"] == "healthy"
    assert body["appCheck"]["status"] == "healthy" and body["appCheck"]["routes"] == ["generate_image", "generate_text"]
    assert server.state["calls"] == ["gateway-health-probe"]
    appcheck.forget()  # the probe's verdict is cached like the provider probes
    server.state["deny"] = True
    response = local("health").get("/")
    body = response.get_json()
    answers.HealthReport.model_validate(body)
    assert response.status_code == 200 and body["status"] == "degraded"
    assert body["appCheck"]["status"] == "unhealthy" and "permission denied" in body["appCheck"]["error"]
    assert "roles/" not in response.get_data(as_text=True)
    assert appcheck.VERIFIER_ROLE in capsys.readouterr().err
    health.reset()


def test_deploy_docs_iam_recipe_grants_the_token_verifier_role() -> None:
    """docs/deploy.md's IAM table and its gcloud recipe grant the gateway's account the role replay protection needs."""
    from gateway import appcheck

    deploy_doc = (Path(__file__).parent.parent / "docs" / "deploy.md").read_text()
    section = deploy_doc.split("### Service accounts and IAM", 1)[1].split("\n### ", 1)[0]
    row = next(line for line in section.splitlines() if line.startswith("| `GATEWAY_SERVICE_ACCOUNT`"))
    assert appcheck.VERIFIER_ROLE in row
    loop = next(line for line in section.splitlines() if line.startswith("for role in") and "eventarc.eventReceiver" in line)
    assert appcheck.VERIFIER_ROLE in loop.replace(";", " ").split()


def test_preflight_allows_the_app_check_header(local, app_check, monkeypatch) -> None:
    monkeypatch.setenv("APP_CHECK", "enforce")
    response = local("generate_text").open(
        "/",
        method="OPTIONS",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,x-firebase-appcheck"},
    )
    assert response.status_code == 204
    assert "X-Firebase-AppCheck" in response.headers["Access-Control-Allow-Headers"]
