"""Streaming through the Functions emulator: chunks reach the client as they arrive, not at the end."""

from __future__ import annotations

import json
import time

import pytest
import requests
from test_generate_text import REPLY


@pytest.fixture
def emulators_user(emulators):
    return emulators.sign_up("user")


def test_chunks_are_flushed_as_they_arrive(emulators, providers, accounts) -> None:
    providers["ollama"].state["chunk_delay"] = 0.4  # five chunks: the whole answer takes >= 1.6 s
    started = time.monotonic()
    arrivals: list[float] = []
    text = ""
    with requests.post(
        emulators.url("generate_text"),
        json={"modelId": "ollama-chat", "prompt": "hi", "stream": True},
        headers=accounts["user"].headers,
        stream=True,
        timeout=30,
    ) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        for line in response.iter_lines(decode_unicode=True):
            if line.startswith("data: {") and '"content"' in line:
                arrivals.append(time.monotonic() - started)
                text += json.loads(line[6:])["content"]
    assert text == REPLY
    assert arrivals[0] < arrivals[-1] - 1.0, f"chunks arrived together: {arrivals}"


def test_ledger_is_written_before_the_response_ends(emulators, providers, emulators_user) -> None:
    """Under the Functions emulator's server, each answer's record is there once the client has the answer."""
    from gateway import firebase

    for stream in (False, True):
        response = requests.post(
            emulators.url("generate_text"),
            json={"modelId": "openai-chat", "prompt": "hi", "stream": stream},
            headers=emulators_user.headers,
            timeout=30,
        )
        assert response.status_code == 200
    records = [r.to_dict() for r in firebase.db().collection("usage").document(emulators_user.uid).collection("records").stream()]
    assert sorted(r["status"] for r in records) == ["ok", "ok"]
    assert all(r["completionTokens"] == 5 for r in records)
