"""Image inputs on the openai edge: data: URLs and the caller's own Storage objects, each provider's format,
limits, ownership, and no URL fetched for a caller (SSRF)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from fakes.images import make

PNG = make(8, 8, "png")
JPEG = make(8, 8, "jpeg")
PROVIDERS = ["openai", "huggingface", "anthropic", "gemini", "ollama"]


@pytest.fixture
def seeing(providers) -> dict[str, Any]:
    from gateway import firebase

    for name in PROVIDERS:
        firebase.db().collection("models").document(f"{name}-chat").update({"capabilities": ["chat", "vision"]})
    from gateway.registry import registry

    registry().invalidate()  # read our own writes at once, not when the listener reports them
    return providers


def _data_url(data: bytes, declared: str = "image/png") -> str:
    return f"data:{declared};base64,{base64.b64encode(data).decode()}"


def _ask(local, account, model: str, *urls: str, text: str = "What is this?") -> Any:
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] + [{"type": "image_url", "image_url": {"url": u}} for u in urls]
    body = {"model": model, "messages": [{"role": "user", "content": content}]}
    return local("openai").post("/v1/chat/completions", json=body, headers=account.headers)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_image_reaches_each_provider_in_its_format(local, seeing, accounts, provider: str) -> None:
    # Declared as PNG, really a JPEG: the bytes decide.
    response = _ask(local, accounts["user"], f"{provider}-chat", _data_url(JPEG, "image/png"))
    assert response.status_code == 200, response.get_data(as_text=True)
    b64 = base64.b64encode(JPEG).decode()
    sent = seeing[provider].state["requests"][-1]["body"]
    if provider == "anthropic":
        assert sent["messages"][0]["content"] == [
            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": b64}},
            {"type": "text", "text": "What is this?"},
        ]
    elif provider == "gemini":
        assert sent["contents"][0]["parts"] == [{"inlineData": {"mimeType": "image/jpeg", "data": b64}}, {"text": "What is this?"}]
    elif provider == "ollama":
        assert sent["messages"][0]["images"] == [b64] and sent["messages"][0]["content"] == "What is this?"
    else:
        assert sent["messages"][0]["content"] == [
            {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{b64}"}},
            {"type": "text", "text": "What is this?"},
        ]


def test_own_storage_image_is_read_others_are_refused(local, seeing, accounts, emulators) -> None:
    from gateway import storage

    user, other = accounts["user"], emulators.sign_up("user")
    storage.upload(f"uploads/{user.uid}/cat.png", PNG, "image/png", {})
    storage.upload(f"uploads/{other.uid}/dog.png", PNG, "image/png", {})
    bucket = storage.bucket_name()

    mine = _ask(local, user, "ollama-chat", f"gs://{bucket}/uploads/{user.uid}/cat.png")
    assert mine.status_code == 200, mine.get_data(as_text=True)
    assert seeing["ollama"].state["requests"][-1]["body"]["messages"][0]["images"] == [base64.b64encode(PNG).decode()]

    theirs = _ask(local, user, "ollama-chat", f"gs://{bucket}/uploads/{other.uid}/dog.png")
    assert theirs.status_code == 403 and theirs.get_json()["error"]["param"] == "messages.0.content.1"
    sneaky = _ask(local, user, "ollama-chat", f"gs://{bucket}/uploads/{user.uid}/../{other.uid}/dog.png")
    assert sneaky.status_code == 400
    missing = _ask(local, user, "ollama-chat", f"gs://{bucket}/uploads/{user.uid}/none.png")
    assert missing.status_code == 404
    elsewhere = _ask(local, user, "ollama-chat", f"gs://another-bucket/uploads/{user.uid}/cat.png")
    assert elsewhere.status_code == 400
    assert len(seeing["ollama"].state["requests"]) == 1


def test_no_url_is_fetched_for_a_caller(local, seeing, accounts, upstreams) -> None:
    """http(s) image URLs are refused before anything is fetched: the gateway is no proxy into its network."""
    target = upstreams["lmstudio"]
    before = len(target.state.get("requests", []))
    for url in (f"{target.url}/v1/models", "http://169.254.169.254/computeMetadata/v1/", "https://example.com/cat.png"):
        response = _ask(local, accounts["user"], "openai-chat", url)
        assert response.status_code == 400 and response.get_json()["error"]["param"] == "messages.0.content.1"
    assert len(target.state.get("requests", [])) == before
    assert seeing["openai"].state["requests"] == []


@pytest.mark.parametrize(
    ("urls", "status"),
    [
        ([_data_url(b"GIF89a" + b"\x00" * 10, "image/gif")], 200),  # GIF by its magic bytes
        ([_data_url(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml")], 400),
        (["data:image/png,notbase64"], 400),
        (["data:image/png;base64,@@@"], 400),
        ([_data_url(PNG)] * 9, 400),
    ],
)
def test_image_limits(local, seeing, accounts, urls: list[str], status: int) -> None:
    response = _ask(local, accounts["user"], "openai-chat", *urls)
    assert response.status_code == status, response.get_data(as_text=True)
    if status != 200:
        assert response.get_json()["error"]["param"].startswith("messages.0.content.")


def test_size_caps(local, seeing, accounts) -> None:
    """A data: URL rides in the body (MAX_BODY_BYTES, 1 MiB); a Storage image may be up to 5 MiB."""
    from gateway import storage

    user = accounts["user"]
    inline = _ask(local, user, "openai-chat", _data_url(b"\x89PNG\r\n\x1a\n" + b"\x00" * (1024 * 1024)))
    assert inline.status_code == 413
    storage.upload(f"uploads/{user.uid}/huge.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * (5 * 1024 * 1024), "image/png", {})
    huge = _ask(local, user, "openai-chat", f"gs://{storage.bucket_name()}/uploads/{user.uid}/huge.png")
    assert huge.status_code == 413 and huge.get_json()["error"]["param"] == "messages.0.content.1"
    assert seeing["openai"].state["requests"] == []


def test_model_without_vision_is_refused(local, providers, accounts) -> None:
    response = _ask(local, accounts["user"], "openai-chat", _data_url(PNG))
    assert response.status_code == 400 and response.get_json()["error"]["param"] == "messages.0.content.1"
    assert "vision" in response.get_json()["error"]["message"]
    assert providers["openai"].state["requests"] == []


def test_images_only_in_user_messages(local, seeing, accounts) -> None:
    body = {
        "model": "openai-chat",
        "messages": [{"role": "system", "content": [{"type": "image_url", "image_url": {"url": _data_url(PNG)}}]}, {"role": "user", "content": "hi"}],
    }
    response = local("openai").post("/v1/chat/completions", json=body, headers=accounts["user"].headers)
    assert response.status_code == 400 and response.get_json()["error"]["param"] == "messages.0.content.0"


def test_image_part_with_a_cache_breakpoint_is_accepted(local, seeing, accounts) -> None:
    """OpenAI's prompt_cache_breakpoint on an image part changes no answer: accepted, not passed on."""
    part = {"type": "image_url", "image_url": {"url": _data_url(PNG), "detail": "low"}, "prompt_cache_breakpoint": {"mode": "explicit"}}
    body = {"model": "openai-chat", "messages": [{"role": "user", "content": [part, {"type": "text", "text": "What?"}]}]}
    response = local("openai").post("/v1/chat/completions", json=body, headers=accounts["user"].headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "prompt_cache_breakpoint" not in str(seeing["openai"].state["requests"][-1]["body"])
    unknown = {**body, "messages": [{"role": "user", "content": [{**part, "zzz": 1}]}]}
    refused = local("openai").post("/v1/chat/completions", json=unknown, headers=accounts["user"].headers)
    assert refused.status_code == 400 and refused.get_json()["error"]["param"] == "messages.0.content.0"  # unknown keys are not dropped
