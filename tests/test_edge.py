"""Request hygiene at the edge: CORS, 405, 413, 415, bad JSON, the catch-all."""

from __future__ import annotations

import requests
from flask import Flask, request

APP_ORIGIN = "https://app.example.com"


def test_preflight_through_the_emulator(emulators) -> None:
    response = requests.options(
        emulators.url("models"),
        headers={"Origin": APP_ORIGIN, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"},
        timeout=30,
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]


def test_configured_origins(local, clean, accounts, monkeypatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", f"{APP_ORIGIN}, http://localhost:5173")
    preflight = {"Access-Control-Request-Method": "GET"}
    ok = local("models").options("/", headers={"Origin": APP_ORIGIN, **preflight})
    assert ok.status_code == 204
    assert ok.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert "Origin" in ok.headers.get("Vary", "")

    evil = local("models").options("/", headers={"Origin": "https://evil.example", **preflight})
    assert evil.status_code == 403
    assert "Access-Control-Allow-Origin" not in evil.headers

    actual = local("models").get("/", headers={"Origin": APP_ORIGIN, **accounts["user"].headers})
    assert actual.status_code == 200
    assert actual.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert {"X-Request-Id", "Server-Timing"} <= set(actual.headers["Access-Control-Expose-Headers"].split(", "))
    # Errors carry CORS headers too, or the browser hides them from the app.
    denied = local("models").get("/", headers={"Origin": APP_ORIGIN})
    assert denied.status_code == 401 and denied.headers["Access-Control-Allow-Origin"] == APP_ORIGIN


def test_method_not_allowed_lists_allowed_methods(local, clean, accounts) -> None:
    response = local("health").post("/", json={})
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert response.headers["Allow"] == "GET, OPTIONS"

    collection_put = local("models").put("/", json={}, headers=accounts["admin"].headers)
    assert collection_put.status_code == 405 and "POST" in collection_put.headers["Allow"]


def test_body_over_the_limit_is_413(local, clean, accounts, monkeypatch) -> None:
    big = {"id": "big", "name": "x" * (1 << 20), "provider": "ollama"}
    response = local("models").post("/", json=big, headers=accounts["admin"].headers)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "PAYLOAD_TOO_LARGE"

    monkeypatch.setenv("MAX_BODY_BYTES", "100")
    small_limit = local("models").post("/", json={"id": "a", "name": "y" * 200, "provider": "ollama"}, headers=accounts["admin"].headers)
    assert small_limit.status_code == 413


def test_chunked_body_over_the_limit_is_413(emulators, accounts) -> None:
    """No Content-Length to trust: the limit holds while reading (through the emulator)."""

    def chunks():
        yield b'{"id": "chunked", "name": "'
        for _ in range(12):
            yield b"z" * (100 * 1024)
        yield b'", "provider": "ollama"}'

    response = requests.post(
        emulators.url("models"), data=chunks(), headers={**accounts["admin"].headers, "Content-Type": "application/json"}, timeout=30
    )
    assert response.status_code == 413


def test_non_json_is_415(local, clean, accounts) -> None:
    response = local("models").post("/", data="id=x", content_type="application/x-www-form-urlencoded", headers=accounts["admin"].headers)
    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_broken_json_is_400(local, clean, accounts) -> None:
    response = local("models").post("/", data="{not json", content_type="application/json", headers=accounts["admin"].headers)
    assert response.status_code == 400
    assert response.get_json()["error"]["message"].startswith("body:")
    array = local("models").post("/", json=[1, 2], headers=accounts["admin"].headers)
    assert array.status_code == 400


def test_unexpected_exception_is_500_without_internals(capsys) -> None:
    from gateway import http

    def explode(ctx: http.Context) -> dict[str, str]:
        raise RuntimeError("database password is hunter2")

    app = Flask("edge-test")
    app.add_url_rule("/", "boom", lambda: http.serve(request, "boom", {"GET": http.Handler(explode, public=True)}))
    response = app.test_client().get("/")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == "INTERNAL"
    assert "hunter2" not in body and "Traceback" not in body
    request_id = response.headers["X-Request-Id"]
    assert request_id in response.get_json()["error"]["message"]
    logged = capsys.readouterr()
    assert request_id in logged.err and "RuntimeError" in logged.err


def test_request_log_line_has_no_token(local, clean, accounts, capsys) -> None:
    local("models").get("/", headers=accounts["user"].headers)
    out = capsys.readouterr().out
    assert '"route": "models"' in out and accounts["user"].uid in out
    assert accounts["user"].token not in out
