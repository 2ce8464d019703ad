"""The client matrix: third-party OpenAI clients, pinned, run unchanged against the emulator stack.

Each client is a script under tests/clients/ (Python clients in their own venvs, node clients in
tests/clients/node; scripts/setup.sh installs both from their locks) started as a subprocess with the
stack's address, a user's Firebase ID token and the model ids in its environment. It prints one JSON
line per feature. :data:`EXPECTED` says what each cell must be; the run's matrix is rendered to
Markdown and must equal the section of docs/openai.md between the client-matrix markers, so the docs show
only what this run proved. ``CLIENT_MATRIX_WRITE=1`` writes that section and
docs/client-matrix.md from the run instead of comparing (then commit them).
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from conftest import KEYS, ROOT, emulator_retry, reset

CLIENTS_DIR = ROOT / "tests" / "clients"
VENVS = {"py": CLIENTS_DIR / ".venv", "llamaindex": CLIENTS_DIR / ".venv-llamaindex"}
NODE_DIR = CLIENTS_DIR / "node"
PAGE = ROOT / "docs" / "openai.md"
"""The page whose "Client matrix" section holds the table (README.md links to it)."""
DOC = ROOT / "docs" / "client-matrix.md"
RAW = ROOT / ".stack" / "client-matrix.jsonl"
START, END = "<!-- client-matrix:start -->", "<!-- client-matrix:end -->"
WRITE = os.environ.get("CLIENT_MATRIX_WRITE") == "1"
SCRIPT_TIMEOUT = 180

# client -> (runtime, script, argument, the packages whose pinned versions the matrix shows)
CLIENTS: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "openai-python": ("py", "py/run_openai.py", "", ("openai",)),
    "openai-node": ("node", "node/run_openai.mjs", "", ("openai",)),
    "ai-sdk/openai": ("node", "node/run_ai_sdk.mjs", "responses", ("ai", "@ai-sdk/openai")),
    "ai-sdk/openai .chat()": ("node", "node/run_ai_sdk.mjs", "chat", ("ai", "@ai-sdk/openai")),
    "ai-sdk/openai-compatible": ("node", "node/run_ai_sdk.mjs", "compatible", ("ai", "@ai-sdk/openai-compatible")),
    "langchain-openai": ("py", "py/run_langchain.py", "", ("langchain-openai",)),
    "litellm": ("py", "py/run_litellm.py", "", ("litellm",)),
    "pydantic-ai": ("py", "py/run_pydantic_ai.py", "", ("pydantic-ai-slim",)),
    "llama-index OpenAILike": ("llamaindex", "py/run_llama_index.py", "", ("llama-index-llms-openai-like",)),
}
FEATURES = {
    "plain": "a plain answer",
    "stream": "a streamed answer",
    "include_usage": "usage at the end of a stream",
    "tools": "a tool round trip",
    "tools_strict": "a tool round trip, `strict: true`",
    "stream_tools": "a tool round trip, streamed",
    "structured": "structured output (the client's own way)",
    "image": "an image input",
    "history": "an answer appended to the history as the client returns it (`model_dump()`...)",
    "async": "the client's async API, streamed",
    "responses_text": "Responses API: text",
    "responses_stream": "Responses API: streamed events",
    "responses_tools": "Responses API: a function call round trip",
    "embeddings": "embeddings",
    "models": "`/v1/models` list and retrieve",
    "bad_token": "a bad token: the client's 401 error",
    "rate_limit": "a provider's 429: the client's rate-limit error",
}

PASS, NA = "pass", "n/a"
# What each cell must be. A cell not named here must pass. A "pending: ..." cell (its part of issue 20 is not merged
# yet) or "gateway: ..." cell (a failure of the gateway found by the matrix, not fixed yet) must fail: a strict xfail,
# so when it passes the run fails until the cell is flipped to pass here and the matrix regenerated.
EXPECTED: dict[str, dict[str, str]] = {
    "openai-python": {},
    "openai-node": {"async": NA},  # node is async only
    # The default provider call openai(id) speaks the Responses API: every feature goes through /v1/responses.
    "ai-sdk/openai": {"async": NA, "models": NA, "responses_text": NA, "responses_stream": NA, "responses_tools": NA},
    "ai-sdk/openai .chat()": {"models": NA, "async": NA, "responses_text": NA, "responses_stream": NA, "responses_tools": NA},
    "ai-sdk/openai-compatible": {"models": NA, "async": NA, "responses_text": NA, "responses_stream": NA, "responses_tools": NA},
    "langchain-openai": {"models": NA},
    "litellm": {"models": NA},
    "pydantic-ai": {"models": NA},
    "llama-index OpenAILike": {
        "models": NA, "embeddings": NA,  # OpenAILikeEmbedding is another package
        "responses_text": NA, "responses_stream": NA, "responses_tools": NA,  # OpenAILike speaks chat completions only
    },
}

REPLY = "Hello from the fake provider"
CITY = {"city": "Paris", "country": "France"}
MATRIX_KEY = KEYS["openai"]


def expected(client: str, feature: str) -> str:
    return EXPECTED[client].get(feature, PASS)


# -- the stack's side: a fake provider the clients' requests reach ---------------------------------------------


def _offered(body: dict[str, Any]) -> list[str]:
    return [(tool.get("function") or tool).get("name", "") for tool in body.get("tools") or []]


def _matrix_server() -> Any:
    from fakes.openai_server import OpenAIServer

    class MatrixServer(OpenAIServer):
        """OpenAI's fake, calling whichever of ``state["tool_calls"]`` the request offers first (the weather tool, a
        client's structured-output tool...), so each client's tools and structured output get a fitting call."""

        def tool_to_call(self, body: dict[str, Any], answered: str | None) -> dict[str, Any] | None:
            by_name = self.state.get("tool_calls") or {}
            if answered is not None:
                return None
            name = next((name for name in _offered(body) if name in by_name), None)
            return {"name": name, "arguments": by_name[name]} if name else None

    return MatrixServer


@pytest.fixture(scope="module")
def matrix_stack(emulators, stack) -> Iterator[dict[str, Any]]:
    """Two providers on fakes (one answering, one answering 429 to everything), their models, one user per client."""
    from fakes.server import FakeServer

    server, limited = FakeServer(_matrix_server()), FakeServer(_matrix_server())
    with server, limited:
        reset(emulators)
        server.state.update(key=MATRIX_KEY, faults=[], requests=[], json_reply=CITY,
                            tool_calls={"get_weather": {"city": "Paris"}, "final_result": CITY, "City": CITY})
        limited.state.update(key=MATRIX_KEY, faults=[{"status": 429, "retry_after": "60"}] * 1000, requests=[])
        emulator_retry(lambda: _documents(server.url, limited.url))
        yield {"server": server, "limited": limited, "tokens": {client: emulators.sign_up("user").token for client in CLIENTS}}


def _documents(url: str, limited_url: str) -> None:
    from gateway import firebase, secrets
    from gateway.schemas import key_binding

    db = firebase.db()
    for provider, base in (("matrix", url), ("matrix-limited", limited_url)):
        doc: dict[str, Any] = {"type": "openai", "baseUrl": f"{base}/v1", "enabled": True, "hasKey": True}
        doc["keyVersion"] = secrets.put(secrets.name_for(provider), MATRIX_KEY)
        doc["keyBinding"] = key_binding(MATRIX_KEY, provider, doc)
        db.collection("providers").document(provider).set(doc)
    config = {"maxTokens": 64, "maxTokensLimit": 1000, "timeoutSeconds": 10}
    pricing = {"inputPer1M": 1.0, "outputPer1M": 2.0}
    text = {"type": "text", "enabled": True, "config": config, "pricing": pricing, "capabilities": ["chat", "tools", "vision"]}
    db.collection("models").document("matrix-chat").set({**text, "name": "fake-model", "provider": "matrix"})
    db.collection("models").document("matrix-limited").set({**text, "name": "fake-model", "provider": "matrix-limited"})
    db.collection("models").document("matrix-embed").set({"type": "embedding", "enabled": True, "name": "fake-embed", "provider": "matrix", "pricing": pricing})


# -- running the clients ---------------------------------------------------------------------------------------


def _command(runtime: str, script: str, argument: str) -> list[str]:
    if runtime == "node":
        assert (NODE_DIR / "node_modules").is_dir(), "tests/clients/node/node_modules is missing: run make setup"
        return ["node", str(CLIENTS_DIR / script), *([argument] if argument else [])]
    python = VENVS[runtime] / "bin" / "python"
    assert python.is_file(), f"{python} is missing: run make setup (scripts/setup.sh installs the client venvs)"
    return [str(python), str(CLIENTS_DIR / script)]


def _run(client: str, env: dict[str, str]) -> list[dict[str, Any]]:
    runtime, script, argument, _ = CLIENTS[client]
    started = time.monotonic()
    try:
        done = subprocess.run(_command(runtime, script, argument), env=env, cwd=CLIENTS_DIR / Path(script).parent,
                              capture_output=True, text=True, timeout=SCRIPT_TIMEOUT, check=False)
        out, err = done.stdout, done.stderr
    except subprocess.TimeoutExpired as exc:
        out, err = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else exc.stdout or "", f"timed out after {SCRIPT_TIMEOUT} s"
    print(f"client matrix: {client} ran in {time.monotonic() - started:.1f} s")
    rows = []
    for line in out.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and row.get("client") == client:
            rows.append(row)
    if not rows:
        rows.append({"client": client, "feature": "*", "ok": False, "detail": f"no results; stderr: {err[-1500:]}"})
    return rows


@pytest.fixture(scope="module")
def results(matrix_stack, emulators) -> dict[tuple[str, str], dict[str, Any]]:
    from fakes.images import make

    base = {
        **os.environ,
        "GW_BASE_URL": emulators.url("openai", "/v1"),
        "GW_MODEL": "matrix-chat",
        "GW_LIMITED_MODEL": "matrix-limited",
        "GW_EMBED_MODEL": "matrix-embed",
        "GW_IMAGE_B64": base64.b64encode(make(16, 16)).decode(),
        "GW_REPLY": REPLY,
        "GW_CITY": json.dumps(CITY),
        "PYTHONDONTWRITEBYTECODE": "1",
        "NO_PROXY": "127.0.0.1,localhost",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # litellm fetches its price list from GitHub otherwise
    }
    for name in ("PYTHONPATH", "VIRTUAL_ENV"):
        base.pop(name, None)
    envs = {client: {**base, "GW_TOKEN": matrix_stack["tokens"][client]} for client in CLIENTS}
    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = dict(zip(CLIENTS, pool.map(lambda client: _run(client, envs[client]), CLIENTS), strict=True))
    RAW.parent.mkdir(exist_ok=True)
    RAW.write_text("".join(json.dumps(row) + "\n" for rows in runs.values() for row in rows))  # every line, for whoever reads a failure
    return {(row["client"], row["feature"]): row for rows in runs.values() for row in rows}


# -- the matrix ------------------------------------------------------------------------------------------------


LOCKS = {"py": "requirements.txt", "llamaindex": "requirements-llamaindex.txt"}


def _pins(runtime: str) -> dict[str, str]:
    """The exact versions a runtime's clients run: its lock's pins, or the node package's dependencies."""
    if runtime == "node":
        return dict(json.loads((NODE_DIR / "package.json").read_text())["dependencies"])
    pins: dict[str, str] = {}
    for line in (CLIENTS_DIR / LOCKS[runtime]).read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split(";")[0].split("==")
            pins[re.sub(r"\[.*\]", "", name).strip().lower()] = version.strip()
    return pins


def render(results: dict[tuple[str, str], dict[str, Any]]) -> str:
    """The docs/openai.md section: features down, clients across, each cell what this run saw."""
    pins = {runtime: _pins(runtime) for runtime in ("py", "llamaindex", "node")}
    mark = {True: "✅", False: "❌"}

    def title(client: str) -> str:
        runtime, _, _, packages = CLIENTS[client]
        return f"{client}<br>" + " ".join(f"{package} {pins[runtime][package]}" for package in packages)

    head = ["Feature", *map(title, CLIENTS)]
    lines = [START, "<!-- Generated by tests/test_client_matrix.py from its run (CLIENT_MATRIX_WRITE=1 to rewrite); do not edit by hand. -->", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for feature, label in FEATURES.items():
        cells = []
        for client in CLIENTS:
            row = results.get((client, feature))
            cells.append("—" if expected(client, feature) == NA and row is None else mark[bool(row and row["ok"])])
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    failing = sorted({why for table in EXPECTED.values() for why in table.values() if why not in (PASS, NA)})
    lines += ["", "✅ passed in this run · ❌ failed in this run · — not applicable to this client.", ""]
    if failing:
        lines += ["Expected to fail for now (`EXPECTED` in the test):", "", *[f"- {why}" for why in failing], ""]
    lines.append(END)
    return "\n".join(lines)


def _doc(section: str, results: dict[tuple[str, str], dict[str, Any]]) -> str:
    failures = [f"- **{c}** / `{f}`: {r['detail']}" for (c, f), r in sorted(results.items()) if not r["ok"]]
    scrub = re.compile(r"127\.0\.0\.1:\d+|localhost:\d+|file://" + re.escape(str(ROOT)) + "/|" + re.escape(str(ROOT)) + "/")
    return "\n".join([
        "# Client matrix", "",
        "Generated by `tests/test_client_matrix.py` (run it with `CLIENT_MATRIX_WRITE=1` to rewrite this file and the section in `docs/openai.md`).",
        "Each client runs unchanged against the emulator stack with a fake provider; the scripts are in `tests/clients/`.", "",
        section.replace(START, "").replace(END, "").strip(), "", "## What failed, as the clients said it", "",
        *[scrub.sub(lambda m: "127.0.0.1:<port>" if ":" in m.group() and "/" not in m.group() else "", line) for line in failures], "",
    ])


def _page_section() -> str:
    text = PAGE.read_text()
    start, end = text.find(START), text.find(END)
    assert start >= 0 and end > start, f"docs/openai.md lacks the {START} ... {END} section"
    return text[start : end + len(END)]


def test_every_cell_is_as_expected(results) -> None:
    """Each (client, feature) is what EXPECTED says: passes, fails while pending, or is not run (n/a)."""
    wrong = []
    for client in CLIENTS:
        if (client, "*") in results:
            wrong.append(f"{client}: {results[(client, '*')]['detail']}")
            continue
        for feature in FEATURES:
            want, row = expected(client, feature), results.get((client, feature))
            if want == NA:
                if row is not None:
                    wrong.append(f"{client} / {feature}: ran, but EXPECTED says n/a")
            elif row is None:
                wrong.append(f"{client} / {feature}: no result (the script does not cover it)")
            elif want == PASS and not row["ok"]:
                wrong.append(f"{client} / {feature}: FAILED: {row['detail']}")
            elif want != PASS and row["ok"]:
                wrong.append(f"{client} / {feature}: passes now: flip it to pass in EXPECTED ({want})")
    assert not wrong, "\n".join(wrong)


def test_docs_show_this_run(results) -> None:
    """docs/openai.md's matrix is exactly what this run produced (CLIENT_MATRIX_WRITE=1 rewrites it and docs/client-matrix.md)."""
    section = render(results)
    if WRITE:
        PAGE.write_text(PAGE.read_text().replace(_page_section(), section))
        DOC.write_text(_doc(section, results))
    assert _page_section() == section, "docs/openai.md's client matrix differs from this run: run CLIENT_MATRIX_WRITE=1 pytest tests/test_client_matrix.py and commit"


if __name__ == "__main__":  # pragma: no cover - a shortcut: regenerate
    os.environ["CLIENT_MATRIX_WRITE"] = "1"
    sys.exit(pytest.main([__file__, "-q"]))
