"""Streaming through the Functions emulator: chunks reach the client as they arrive, not at the end."""

from __future__ import annotations

import json
import time

import requests

from test_generate_text import REPLY


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
