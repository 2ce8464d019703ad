"""The web client library (web/src/gateway) against the real gateway on the emulators.

The Node tests (``web/test/gateway.integration.js``) drive the Functions
emulator over HTTP with Firebase JS SDK sign-ins, as a browser app does;
this module prepares the fakes they call, runs them, and checks what the
fakes saw. Answers are also validated against ``gateway.answers`` (the
models the client's TypeScript types are generated from), and the committed
types must match the code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from typing import Any

import pytest

from conftest import PASSWORD, ROOT

WEB = ROOT / "web"
REPLY = "Hello from the fake provider"
LONG = " ".join(f"word{i}" for i in range(200))


def _npm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["npm", *args], cwd=WEB, capture_output=True, text=True, timeout=300)


def test_types_match_the_gateway_models() -> None:
    out = subprocess.run(
        [str(ROOT / "functions" / "venv" / "bin" / "python"), str(ROOT / "scripts" / "client_types.py"), "--check"],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr


def test_client_type_checks_and_its_unit_tests_pass() -> None:
    assert (WEB / "node_modules").is_dir(), "run make setup (npm ci in web/)"
    typecheck = _npm("run", "--silent", "typecheck")
    assert typecheck.returncode == 0, typecheck.stdout + typecheck.stderr
    unit = _npm("test", "--silent")
    assert unit.returncode == 0, unit.stdout + unit.stderr
    assert "# fail 0" in unit.stdout


@pytest.fixture
def setup(providers, emulators, accounts) -> dict[str, Any]:
    """Fakes and models for each scenario of the Node tests."""
    from gateway import firebase

    db = firebase.db()
    providers["openai"].state["chunk_delay"] = 0.01
    providers["openrouter"].state["faults"] = [{"stream_error": True}]
    for name in ("lmstudio", "ollama"):
        providers[name].state.update(reply=LONG, chunk_delay=0.2)
    db.collection("models").document("limited-chat").set(
        {"name": "limited", "provider": "openai", "type": "text", "enabled": True, "pricing": {"inputPer1M": 1.0, "outputPer1M": 2.0}}
    )
    db.collection("config").document("limits").set({"models": {"limited-chat": 1}})
    db.collection("models").document("hf-image").set(
        {"name": "black-forest-labs/FLUX.1-schnell", "provider": "huggingface", "type": "image", "enabled": True, "pricing": {"perImage": 0.002}, "config": {"width": 256, "height": 256}}
    )
    db.collection("models").document("openai-embed").set(
        {"name": "text-embedding-3-small", "provider": "openai", "type": "embedding", "enabled": True, "pricing": {"inputPer1M": 0.02}}
    )
    return {
        "functionsUrl": emulators.stack.function_url("x").rsplit("/", 1)[0],
        "authEmulator": f"http://{emulators.stack.host('auth')}",
        "projectId": emulators.project,
        "password": PASSWORD,
        "accounts": {role: accounts[role].email for role in ("user", "viewer", "admin")},
        "reply": REPLY,
        "models": {
            "chat": "openai-chat",
            "broken": "openrouter-chat",
            "slow": "lmstudio-chat",
            "slow2": "ollama-chat",
            "limited": "limited-chat",
            "image": "hf-image",
            "embed": "openai-embed",
        },
        "providers": {"chat": "openai"},
    }


def test_client_against_the_gateway(setup, providers, accounts) -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed"
    run = subprocess.run(
        [node, "--test", "--test-reporter=tap", "test/gateway.integration.js"],
        cwd=WEB, env={**os.environ, "GATEWAY_TEST": json.dumps(setup)}, capture_output=True, text=True, timeout=240,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    assert "# fail 0" in run.stdout and "# skipped 0" in run.stdout
    # The aborted and the abandoned streams closed their upstream connections (noticed at the next chunk).
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not all(providers[n].state.get("disconnected") for n in ("lmstudio", "ollama")):
        time.sleep(0.05)
    assert {n: providers[n].state.get("disconnected") for n in ("lmstudio", "ollama")} == {"lmstudio": True, "ollama": True}
    # and were recorded as cut off, with unknown counts.
    from gateway import firebase

    records = [r.to_dict() for r in firebase.db().collection("usage").document(accounts["user"].uid).collection("records").stream()]
    cut = [r for r in records if r["modelId"] in ("lmstudio-chat", "ollama-chat")]
    assert sorted(r["status"] for r in cut) == ["cancelled", "cancelled"], cut


def test_answers_match_the_models_the_client_types_come_from(local, providers, accounts) -> None:
    """Real answers validate against gateway.answers with extra="forbid": a new field must be declared there."""
    from gateway import answers

    user = accounts["user"].headers
    text = local("generate_text").post("/", json={"modelId": "openai-chat", "prompt": "hi"}, headers=user)
    answers.TextAnswer.model_validate(text.get_json())
    stream = local("generate_text").post("/", json={"modelId": "openai-chat", "prompt": "hi", "stream": True}, headers=user)
    events = [json.loads(line[6:]) for line in stream.get_data(as_text=True).splitlines() if line.startswith("data: {")]
    for event in events[:-1]:
        answers.StreamDelta.model_validate(event)
    answers.StreamDone.model_validate(events[-1])
    answers.ModelList.model_validate(local("models").get("/", headers=user).get_json())
    answers.UsageReport.model_validate(local("usage").get("/", headers=user).get_json())
    error = local("generate_text").post("/", json={"modelId": "openai-chat"}, headers=user)
    answers.ErrorBody.model_validate(error.get_json())


def test_image_answer_matches_its_model(local, providers, accounts) -> None:
    from gateway import answers, firebase
    from gateway.registry import registry

    firebase.db().collection("models").document("hf-image").set(
        {"name": "flux", "provider": "huggingface", "type": "image", "enabled": True, "pricing": {"perImage": 0.002}, "config": {"width": 256, "height": 256}}
    )
    registry().invalidate()
    response = local("generate_image").post("/", json={"modelId": "hf-image", "prompt": "a fox"}, headers=accounts["user"].headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    answers.ImageAnswer.model_validate(response.get_json())
