"""App Check: off, monitor and enforce per function, limited-use tokens, CORS.

The emulators have no App Check, so the production path runs for real:
tokens are RS256-signed by a test key, and the Admin SDK's JWKS fetch and
replay check are pointed at a loopback server (``fakes/app_check_server.py``)
that plays App Check's endpoints.
"""

from __future__ import annotations

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


def test_app_check_comes_before_the_id_token(local, app_check, monkeypatch) -> None:
    """No App Check token, no further work: not even the ID token is verified."""
    monkeypatch.setenv("APP_CHECK", "enforce")
    response = local("models").get("/", headers={"Authorization": "Bearer garbage"})
    assert response.status_code == 401 and _error(response)["details"] == {"appCheck": "missing"}


def test_preflight_allows_the_app_check_header(local, app_check, monkeypatch) -> None:
    monkeypatch.setenv("APP_CHECK", "enforce")
    response = local("generate_text").open(
        "/",
        method="OPTIONS",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,x-firebase-appcheck"},
    )
    assert response.status_code == 204
    assert "X-Firebase-AppCheck" in response.headers["Access-Control-Allow-Headers"]
