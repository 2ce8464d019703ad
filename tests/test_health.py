"""health: concurrent, bounded provider probes against real fake servers; no auth."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from fakes.probe_target import ProbeTarget
from fakes.server import FakeServer


@pytest.fixture
def providers(emulators, clean) -> Iterator[dict[str, FakeServer]]:
    """Providers up, failing and hanging, plus one at a closed port and one disabled."""
    from gateway import firebase, health

    emulators.clear_firestore()
    with FakeServer(ProbeTarget, mode="ok") as up, FakeServer(ProbeTarget, mode="error") as down, FakeServer(
        ProbeTarget, mode="hang", hang_seconds=8
    ) as hanging:
        db = firebase.db().collection("providers")
        db.document("up").set({"type": "openai-compatible", "baseUrl": f"{up.url}/v1", "healthCheckUrl": f"{up.url}/v1/models", "enabled": True})
        db.document("down").set({"type": "ollama", "baseUrl": down.url, "healthCheckUrl": f"{down.url}/api/version", "enabled": True})
        db.document("hanging").set({"type": "lmstudio", "baseUrl": f"{hanging.url}/v1", "enabled": True})
        db.document("off").set({"type": "ollama", "baseUrl": up.url, "enabled": False})
        health.reset()
        yield {"up": up, "down": down, "hanging": hanging}
        health.reset()


def test_one_down_one_hanging_is_degraded_and_fast(local, providers) -> None:
    started = time.monotonic()
    response = local("health").get("/")
    elapsed = time.monotonic() - started
    assert elapsed < 2.0, f"health took {elapsed:.2f}s"
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "degraded"
    assert set(body["providers"]) == {"up", "down", "hanging"}
    assert body["providers"]["up"]["status"] == "healthy" and body["providers"]["up"]["latencyMs"] >= 0
    assert body["providers"]["down"] == {**body["providers"]["down"], "status": "unhealthy", "error": "HTTP 503"}
    assert body["providers"]["hanging"]["status"] == "unhealthy" and body["providers"]["hanging"]["error"] == "timeout"
    assert body["summary"] == {"healthy": 1, "total": 3, "percentage": 33.3}
    assert body["api"]["status"] == "healthy" and body["version"]


def test_results_are_cached(local, providers) -> None:
    local("health").get("/")
    hits = providers["up"].state["hits"]
    for _ in range(3):
        assert local("health").get("/").status_code == 200
    assert providers["up"].state["hits"] == hits


def test_all_down_is_503(local, providers) -> None:
    from gateway import firebase, health

    firebase.db().collection("providers").document("up").update({"enabled": False})
    health.reset()
    response = local("health").get("/")
    assert response.status_code == 503
    assert response.get_json()["status"] == "unhealthy"


def test_adapters_probe_without_tokens(local, clean, upstreams) -> None:
    """Without healthCheckUrl each adapter's free call is used (model list / version), with its key."""
    from conftest import KEYS
    from gateway import firebase, health, secrets
    from gateway.schemas import key_binding

    firebase.db().collection("providers").document("ollama").set({"type": "ollama", "baseUrl": upstreams["ollama"].url, "enabled": True})
    anthropic = {"type": "anthropic", "baseUrl": upstreams["anthropic"].url, "enabled": True, "hasKey": True}
    firebase.db().collection("providers").document("anthropic").set({**anthropic, "keyBinding": key_binding(KEYS["anthropic"], "anthropic", anthropic)})
    for name in ("ollama", "anthropic"):
        upstreams[name].state.update({"requests": [], "faults": [], "key": KEYS.get(name)})
    secrets.put(secrets.name_for("anthropic"), KEYS["anthropic"])
    firebase.db().collection("providers").document("lmstudio").delete()
    health.reset()
    body = local("health").get("/").get_json()
    assert body["providers"]["ollama"]["status"] == "healthy"
    assert body["providers"]["anthropic"]["status"] == "healthy"
    assert [r["path"] for r in upstreams["ollama"].state["requests"]] == ["/api/version"]
    assert [r["path"] for r in upstreams["anthropic"].state["requests"]] == ["/v1/models"]
    upstreams["anthropic"].state["key"] = "another-key"
    health.reset()
    assert local("health").get("/").get_json()["providers"]["anthropic"] == {
        **local("health").get("/").get_json()["providers"]["anthropic"], "status": "unhealthy", "error": "credentials rejected"
    }


def test_all_up_is_healthy(local, providers) -> None:
    from gateway import firebase, health

    for name in ("down", "hanging"):
        firebase.db().collection("providers").document(name).delete()
    health.reset()
    response = local("health").get("/")
    assert response.status_code == 200
    assert response.get_json()["status"] == "healthy"
