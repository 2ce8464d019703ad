"""The chat page's model picker, image attachments, tool-call and JSON answers, finish reasons and the
viewer's read-only composer, in headless Chromium against the emulator stack (see test_browser.py).

Build the app first: ``cd web && npm run build``.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
import requests

from fakes.images import make

CHAT = "openai-chat"
PNG = make(16, 16, "png")
JPEG = make(8, 8, "jpeg")
WEATHER = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string"}}, "required": ["city"]},
}
ARGS = {"city": "Paris", "unit": "C"}


def _wait_for(predicate: Any, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return bool(predicate())


@pytest.fixture
def app(providers, web) -> Any:
    return web


def _capabilities(model: str, *capabilities: str) -> None:
    """Give a model capabilities (the functions' registry follows its Firestore listener)."""
    from gateway import firebase

    firebase.db().collection("models").document(model).update({"capabilities": list(capabilities)})


def _open_with(app: Any, account: Any, model: str, capability: str | None = None) -> Any:
    """The chat page with `model` picked; waits until the page knows the model's `capability` (the registry may lag)."""
    for _ in range(20):
        page = app.open(account)
        page.wait_for_function(f"[...document.querySelectorAll('#chat-model option')].some(o => o.value === {model!r})")
        page.wait_for_selector("#chat-model[data-health=loaded]")  # the health probes are over: a fault set now is the answer's
        page.select_option("#chat-model", model)
        if capability is None or _has(page, capability):
            return page
        page.close()
        time.sleep(0.5)
    raise AssertionError(f"the page never listed {model} with {capability}")


def _has(page: Any, capability: str) -> bool:
    words = {"vision": "Reads images: yes", "tools": "Tools: yes"}[capability]
    return words in page.inner_text("#chat-model-caps")


def _send(page: Any, prompt: str) -> None:
    page.fill("#chat-prompt", prompt)
    page.click("#chat-send")


def _answered(page: Any) -> None:
    page.wait_for_selector("#chat-output[data-state=done]", timeout=20_000)
    page.wait_for_selector("#chat-send:not([disabled])")


def test_picker_says_each_providers_health_and_never_defaults_to_a_down_one(app, providers, accounts, emulators) -> None:
    from gateway import firebase

    db = firebase.db()
    # Enabled, and first by name, but nothing listens at its address: the health report says it is down.
    db.collection("providers").document("gone").set({"type": "openai", "baseUrl": "http://127.0.0.1:9/v1", "enabled": True, "hasKey": False})
    db.collection("models").document("aaa-gone").set(
        {"name": "m", "displayName": "AAA gone", "provider": "gone", "type": "text", "enabled": True, "capabilities": ["chat", "vision", "tools"]}
    )
    # The health function caches its report (HEALTH_CACHE_SECONDS): wait until it has probed the new provider.
    health = emulators.url("health")
    assert _wait_for(lambda: requests.get(health, timeout=30).json()["providers"].get("gone", {}).get("status") == "unhealthy", 45)

    page = app.open(accounts["user"])
    page.wait_for_selector("#chat-model[data-health=loaded]")
    texts = dict(page.eval_on_selector_all("#chat-model option", "options => options.map(o => [o.value, o.textContent])"))
    assert texts["aaa-gone"] == "AAA gone (provider down)"
    assert "(provider" not in texts[CHAT]  # up: nothing added
    assert page.input_value("#chat-model") != "aaa-gone"  # first by name, yet never the default
    assert page.get_attribute("#chat-model-status", "data-health") == "up"
    assert page.inner_text("#chat-model-health") == "Provider up"

    page.select_option("#chat-model", "aaa-gone")
    assert page.get_attribute("#chat-model-status", "data-health") == "down"
    assert page.inner_text("#chat-model-health") == "Provider down"
    assert page.inner_text("#chat-model-caps") == "Reads images: yes · Tools: yes · JSON answers: yes"
    assert page.is_visible("label[for=chat-attach]")  # a vision model: images may be attached
    page.select_option("#chat-model", CHAT)
    assert page.inner_text("#chat-model-caps") == "Reads images: no · Tools: no · JSON answers: yes"
    assert not page.is_visible("label[for=chat-attach]")  # no vision: no attach control

    # Chosen last time, but down now: still not the default.
    page.select_option("#chat-model", "aaa-gone")
    again = app.open(accounts["user"])
    again.wait_for_selector("#chat-model[data-health=loaded]")
    assert again.input_value("#chat-model") != "aaa-gone"
    assert page.errors == [] and again.errors == []


def test_an_attached_image_is_uploaded_and_reaches_the_model(app, providers, accounts) -> None:
    _capabilities(CHAT, "chat", "vision")
    user = accounts["user"]
    page = _open_with(app, user, CHAT, "vision")
    assert page.inner_text("#chat-attach-limits") == "PNG, JPEG, WebP or GIF; up to 5 MiB each, 12 MiB together, 8 images per message."

    # Refused before any upload, in words naming the file.
    page.set_input_files("#chat-attach", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}])
    assert page.inner_text("#chat-error") == "notes.txt: not a PNG, JPEG, WebP or GIF image."
    page.set_input_files("#chat-attach", files=[{"name": "huge.png", "mimeType": "image/png", "buffer": PNG + b"\0" * (5 * 1024 * 1024)}])
    assert page.inner_text("#chat-error") == "huge.png: larger than 5 MiB."

    # Two chosen, one removed again: a preview each, with its remove button.
    page.set_input_files("#chat-attach", files=[
        {"name": "red.png", "mimeType": "image/png", "buffer": PNG},
        {"name": "other.jpg", "mimeType": "image/jpeg", "buffer": JPEG},
    ])
    assert page.eval_on_selector_all("#chat-attachments img", "imgs => imgs.map(i => i.alt)") == ["red.png", "other.jpg"]
    page.click("button[aria-label='Remove other.jpg']")
    assert page.eval_on_selector_all("#chat-attachments img", "imgs => imgs.map(i => i.alt)") == ["red.png"]

    sent: list[dict[str, Any]] = []
    page.on("request", lambda r: sent.append(r.post_data_json) if r.url.endswith("/generate_text") and r.method == "POST" else None)
    _send(page, "What is this?")
    _answered(page)

    # Uploaded to the caller's own folder, sent as a gs:// path, read by the gateway, sent to the model as the same bytes.
    [body] = sent
    [path] = body["images"]
    assert path.startswith(f"gs://demo-ai-gateway.appspot.com/uploads/{user.uid}/") and path.endswith(".png")
    upstream = providers["openai"].state["requests"][-1]["body"]
    image = upstream["messages"][-1]["content"][0]["image_url"]["url"]
    assert image == f"data:image/png;base64,{base64.b64encode(PNG).decode()}"
    # The question shows its image; the composer is empty again.
    assert page.eval_on_selector_all("#chat-thread .msg.user img", "imgs => imgs.map(i => [i.alt, i.naturalWidth])") == [["red.png", 16]]
    assert page.eval_on_selector_all("#chat-attachments img", "imgs => imgs.length") == 0
    assert page.locator("#chat-error:not([hidden])").count() == 0
    assert page.errors == []
    app.screenshot(page, "chat-attachment")


def test_a_tool_call_is_shown_as_its_name_and_arguments(app, providers, accounts) -> None:
    _capabilities(CHAT, "chat", "tools")
    providers["openai"].state["tool_call"] = {"name": "get_weather", "arguments": ARGS}
    page = _open_with(app, accounts["user"], CHAT, "tools")
    page.click("#chat-options summary")
    page.fill("#chat-tools", json.dumps([WEATHER]))
    _send(page, "Weather in Paris?")
    _answered(page)
    assert providers["openai"].state["requests"][-1]["body"]["tools"][0]["function"]["name"] == "get_weather"
    assert page.get_attribute(".tool-call", "data-name") == "get_weather"
    assert page.inner_text(".tool-call .tool-call-name") == "Tool call: get_weather"
    assert page.inner_text(".tool-call pre code") == json.dumps(ARGS, indent=2)  # pretty-printed, not one line
    assert " · Tool call · " in page.inner_text("#chat-meta")

    # Tools that are not JSON: said before anything is sent.
    page.fill("#chat-tools", "[{name: get_weather}]")
    _send(page, "Again?")
    page.wait_for_selector("#chat-error:not([hidden])")
    assert page.inner_text("#chat-error").startswith("Tools: not valid JSON")
    assert page.errors == []
    app.screenshot(page, "chat-tool-call")

    # Reopened from the URL: the stored answer has no text (calls are not stored), and says so rather than showing nothing.
    page.reload()
    page.wait_for_selector("#chat-output[data-state=done]", timeout=20_000)
    assert page.inner_text("#chat-output") == "No text: the answer was empty, or only tool calls (which are not stored)."


def test_a_json_answer_is_pretty_printed(app, providers, accounts) -> None:
    reply = {"city": "Paris", "days": [{"day": 1, "plan": "Louvre"}, {"day": 2, "plan": "Orsay"}]}
    providers["openai"].state["json_reply"] = reply
    page = _open_with(app, accounts["user"], CHAT)
    page.click("#chat-options summary")
    page.check("#chat-json")
    _send(page, "Plan two days in Paris as JSON")
    _answered(page)
    assert providers["openai"].state["requests"][-1]["body"]["response_format"] == {"type": "json_object"}
    assert page.get_attribute("#chat-output", "data-format") == "json"
    assert page.inner_text("#chat-output pre code") == json.dumps(reply, indent=2)
    assert page.errors == []


@pytest.mark.parametrize(
    ("reason", "words"),
    [("stop", "Finished"), ("length", "Stopped: length limit reached"), ("content_filter", "Filtered by the provider")],
)
def test_finish_reasons_are_said_in_words(app, providers, accounts, reason: str, words: str) -> None:
    providers["openai"].state["finish_reason"] = reason
    page = _open_with(app, accounts["user"], CHAT)
    _send(page, "hi")
    _answered(page)
    meta = page.inner_text("#chat-meta").split(" · ")
    assert meta[1] == words, meta
    assert page.get_attribute("#chat-meta", "data-finish") == reason


def test_a_failed_turn_gives_back_the_question_and_its_images(app, providers, accounts) -> None:
    """A refused turn is not stored: it leaves the thread, and the question and its images are back in the composer."""
    _capabilities(CHAT, "chat", "vision")
    page = _open_with(app, accounts["user"], CHAT, "vision")
    providers["openai"].state["faults"] = [{"status": 400, "body": {"error": {"message": "bad request", "type": "invalid_request_error"}}}]
    page.set_input_files("#chat-attach", files=[{"name": "red.png", "mimeType": "image/png", "buffer": PNG}])
    _send(page, "What is this?")
    page.wait_for_selector("#chat-error:not([hidden])", timeout=20_000)
    page.wait_for_selector("#chat-send:not([disabled])")
    assert page.locator("#chat-thread .msg").count() == 0
    assert page.input_value("#chat-prompt") == "What is this?"
    assert page.eval_on_selector_all("#chat-attachments img", "imgs => imgs.map(i => i.alt)") == ["red.png"]
    assert page.errors == []


def test_the_storage_emulator_takes_only_own_images_in_uploads(stack, accounts) -> None:
    """The local stand-in for the rules runtime permits storage.rules' uploads rule (a copy: see its source) and nothing else."""
    user = accounts["user"]
    base = f"http://{stack.host('storage')}/v0/b/demo-ai-gateway.appspot.com/o"

    def put(path: str, data: bytes, content_type: str, account: Any = user) -> int:
        headers = {"Authorization": f"Firebase {account.token}", "Content-Type": content_type}
        return requests.post(base, params={"name": path, "uploadType": "media"}, data=data, headers=headers, timeout=30).status_code

    assert put(f"uploads/{user.uid}/a.png", PNG, "image/png") == 200
    assert put(f"uploads/{accounts['viewer'].uid}/a.png", PNG, "image/png") == 403  # another user's folder
    assert put(f"uploads/{user.uid}/a.txt", b"hello", "text/plain") == 403  # not an image
    assert put(f"uploads/{user.uid}/big.png", PNG + b"\0" * (5 * 1024 * 1024), "image/png") == 403  # over 5 MiB
    assert put(f"uploads/{user.uid}/deep/a.png", PNG, "image/png") == 403  # only files directly in the folder
    assert put(f"generated/{user.uid}/a.png", PNG, "image/png") == 403  # the gateway's folder
