"""The demo web app in headless Chromium: served by the Hosting emulator on its own origin (real CORS,
preflights included), calling the gateway on the Functions emulator, providers replaced by the fakes.

Screenshots of the main pages go to .stack/screenshots/ (not committed).
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

CHAT = "openai-chat"

COLD_START = 60_000
"""Bound (ms) on a wait whose request may start a function's worker: the Functions emulator starts a Python
worker for a function's first request, and another for each request that overlaps a busy one (measured
here with three test runs in parallel: 8-10 s for generate_text's first answer, 2.5-3.5 s for a
conversations worker). The chat page used to call `conversations` twice at once on a restore (the
sidebar's list and the conversation's messages), which started a second worker on the way to the
restored thread; the sidebar is now a Firestore listener and that overlap is gone."""


def _wait_for(predicate: Any, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def _ask(page: Any, model: str, prompt: str = "hi") -> None:
    page.wait_for_function(f"[...document.querySelectorAll('#chat-model option')].some(o => o.value === {model!r})")
    page.select_option("#chat-model", model)
    page.fill("#chat-prompt", prompt)
    page.click("#chat-send")


def _turns(page: Any) -> list[tuple[str, str]]:
    """The thread as the reader sees it: (role, text) per turn, oldest first."""
    turns = page.eval_on_selector_all("#chat-thread .msg", "turns => turns.map(t => [t.dataset.role, t.querySelector('.body').innerText.trim()])")
    return [(role, text) for role, text in turns]


def _options(page: Any, select: str) -> list[str]:
    return page.eval_on_selector_all(f"{select} option", "options => options.map(o => o.value)")


@pytest.fixture
def app(providers, image_model, web) -> Any:
    return web


@pytest.fixture
def image_model(providers) -> str:
    from gateway import firebase

    firebase.db().collection("models").document("hf-image").set(
        {"name": "flux", "provider": "huggingface", "type": "image", "enabled": True, "pricing": {"perImage": 0.002}, "config": {"width": 256, "height": 256}}
    )
    return "hf-image"


def test_streamed_answer_appears_as_it_is_generated(app, providers, accounts, capsys) -> None:
    """Chunks reach the page spread over time, each soon after the upstream sent it; headers are readable from JS."""
    fake = providers["openai"]
    fake.state.update(reply=" ".join(f"w{i}" for i in range(12)), chunk_delay=0.15)
    page = app.open(accounts["user"])
    # Chromium sends CORS preflights from its network service; DevTools reports them, Playwright's events do not.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    preflights: list[str] = []
    cdp.on("Network.requestWillBeSent", lambda e: preflights.append(e["request"]["url"]) if e["request"]["method"] == "OPTIONS" else None)
    _ask(page, CHAT)
    page.wait_for_selector("#chat-output[data-state=done]", timeout=20_000)
    assert page.inner_text("#chat-output") == " ".join(f"w{i}" for i in range(12))
    assert re.search(r"openai-chat · Finished · \d+ tokens · \$", page.inner_text("#chat-meta"))  # "stop" in words

    timings = page.evaluate("window.chatTimings.map(t => performance.timeOrigin + t.at)")  # epoch ms
    assert len(timings) >= 10, timings
    spread = (timings[-1] - timings[0]) / 1000
    assert spread >= 0.15 * 8, f"chunks arrived together ({spread:.2f} s), not as generated"
    # The same clock on both ends: from the upstream writing a chunk to its text in the page.
    # sent_at[0] is the role-only chunk; sent_at[i + 1] carried word i.
    sent = fake.state["sent_at"][1 : len(timings) + 1]
    delays = sorted(t / 1000 - s for t, s in zip(timings, sent, strict=True))
    assert 0 <= delays[0] and delays[-1] < 1.0, delays
    with capsys.disabled():
        first, median = (timings[0] / 1000 - sent[0]) * 1000, delays[len(delays) // 2] * 1000
        print(f"\n[browser] upstream chunk -> text in the page: first {first:.1f} ms, median {median:.1f} ms; {len(timings)} chunks over {spread:.2f} s")

    # X-Request-Id and X-RateLimit-* read by the page's JS (exposed by CORS).
    assert re.fullmatch(r"[0-9a-f]{32}", page.inner_text("#request-id"))
    rate = page.eval_on_selector("#rate-limit", "e => ({...e.dataset})")
    assert int(rate["limit"]) == 100 and int(rate["remaining"]) < 100
    assert any("generate_text" in url for url in preflights), "no CORS preflight seen"
    assert page.errors == []
    app.screenshot(page, "chat")


def test_stop_closes_the_upstream_connection(app, providers, accounts) -> None:
    fake = providers["openai"]
    fake.state.update(reply=" ".join(["word"] * 200), chunk_delay=0.1)
    page = app.open(accounts["user"])
    _ask(page, CHAT)
    page.wait_for_function("window.chatTimings.length >= 3")
    page.click("#chat-stop")
    page.wait_for_selector("#chat-output[data-state=stopped]")
    assert page.inner_text("#chat-meta") == "Stopped by you"
    assert _wait_for(lambda: fake.state.get("disconnected") is True), "the upstream kept streaming after Stop"
    shown = len(page.inner_text("#chat-output").split())
    assert 3 <= shown < 200
    # The stopped answer's conversation (X-Conversation-Id, sent before any text) is the one the URL names.
    assert re.fullmatch(r"#/chat/[A-Za-z0-9_-]+", page.evaluate("location.hash"))


def test_image_is_shown_from_storage_and_listed_in_the_gallery(app, providers, accounts, image_model) -> None:
    page = app.open(accounts["user"], "images")
    page.wait_for_function(f"[...document.querySelectorAll('#image-model option')].some(o => o.value === {image_model!r})")
    page.select_option("#image-model", image_model)
    page.fill("#image-prompt", "a red fox")
    page.click("#image-generate")
    page.wait_for_selector("#image-results img")
    src = page.get_attribute("#image-results img", "src")
    assert src and "/v0/b/" in src and "token=" in src  # a Storage download URL (the Storage emulator)
    page.wait_for_function("document.querySelector('#image-results img').complete")
    assert page.eval_on_selector("#image-results img", "img => img.naturalWidth") == 256
    # The gallery reads users/{uid}/images straight from Firestore, as the rules allow the owner.
    page.wait_for_selector("#gallery img")
    assert page.get_attribute("#gallery img", "src") == src
    assert page.errors == []
    app.screenshot(page, "images")


def test_viewer_is_told_why_they_cannot_send(app, providers, accounts, emulators) -> None:
    """The gateway refuses a viewer's generation: the page says so up front instead of offering a Send that fails."""
    import requests

    refused = requests.post(emulators.url("generate_text"), json={"modelId": CHAT, "prompt": "hi"}, headers=accounts["viewer"].headers, timeout=30)
    assert refused.status_code == 403
    page = app.open(accounts["viewer"])
    page.wait_for_selector("#chat-readonly")
    assert "only users and admins can send messages" in page.inner_text("#chat-readonly")
    assert page.locator("#chat-composer, #chat-send, #chat-prompt").count() == 0
    assert page.locator("nav a", has_text="Models").count() == 0  # no admin pages for a viewer


def test_rate_limit_shows_when_to_retry(app, providers, accounts) -> None:
    from gateway import firebase

    firebase.db().collection("config").document("limits").set({"models": {CHAT: 1}})
    page = app.open(accounts["user"])
    _ask(page, CHAT)
    page.wait_for_selector("#chat-output[data-state=done]")
    page.fill("#chat-prompt", "hi again")
    page.click("#chat-send")
    page.wait_for_selector("#chat-error:not([hidden])")
    assert page.get_attribute("#chat-error", "data-code") == "RATE_LIMITED"
    wait = re.search(r"Try again in (\d+) s\.$", page.inner_text("#chat-error"))
    assert wait and 1 <= int(wait.group(1)) <= 60, page.inner_text("#chat-error")
    assert page.eval_on_selector("#rate-limit", "e => e.dataset.remaining") == "0"


def test_admin_disables_a_model_and_users_no_longer_see_it(app, providers, accounts) -> None:
    user = app.open(accounts["user"])
    user.wait_for_function(f"[...document.querySelectorAll('#chat-model option')].some(o => o.value === {CHAT!r})")

    admin = app.open(accounts["admin"], "admin/models")
    row = admin.locator(f'#models-table tr[data-model="{CHAT}"]')
    toggle = row.locator("input[type=checkbox]")
    assert toggle.is_checked()
    toggle.uncheck()
    admin.wait_for_function(f"!document.querySelector('#models-table tr[data-model=\"{CHAT}\"] input[type=checkbox]').checked")
    app.screenshot(admin, "admin-models")

    # A new visit of the user's chat page: the picker no longer offers it (the change reached the models function).
    user.reload()
    user.wait_for_selector("#chat-model option", state="attached")
    assert CHAT not in _options(user, "#chat-model")
    # and the audit page shows who did it.
    admin.goto(f"{app.url}/#/admin/audit")
    admin.wait_for_selector("#audit-table td")
    assert f"models/{CHAT}" in admin.inner_text("#audit-table")
    assert admin.errors == [] and user.errors == []
    app.screenshot(admin, "admin-audit")


def test_admin_provider_pages(app, providers, accounts) -> None:
    page = app.open(accounts["admin"], "admin/providers")
    page.locator('#providers-table tr[data-provider="openai"] button', has_text="Test").click()
    # The result shows in the provider's own row.
    result = '#providers-table tr[data-provider="openai"] td.test-result[data-ok]'
    page.wait_for_selector(result)
    assert re.match(r"healthy, [\d.]+ ms, 2 models", page.inner_text(result))
    # A key typed into the create form is sent once and gone from the page.
    page.fill("#provider-create [name=id]", "made-in-browser")
    page.fill("#provider-create [name=baseUrl]", providers["lmstudio"].url + "/v1")
    page.fill("#provider-create [name=apiKey]", "sk-browser-0123456789")
    page.click("#provider-create button[type=submit]")
    page.wait_for_selector('#providers-table tr[data-provider="made-in-browser"]')
    assert page.input_value("#provider-create [name=apiKey]") == ""
    assert "sk-browser" not in page.content()
    assert page.inner_text('#providers-table tr[data-provider="made-in-browser"] .key-state') == "stored"
    # Discovery lists the provider's own models; importing one adds it to the registry, disabled.
    page.locator('#providers-table tr[data-provider="openai"] button', has_text="Discover").click()
    page.wait_for_selector('#discovered input[value="fake-model-large"]')
    page.check('#discovered input[value="fake-model-large"]')
    page.click("#provider-report button")
    page.wait_for_selector("#import-result")
    assert page.inner_text("#import-result") == "Imported (disabled until enabled on Models): created openai-fake-model-large"
    app.screenshot(page, "admin-providers")
    page.goto(f"{app.url}/#/admin/models")
    imported = page.locator('#models-table tr[data-model="openai-fake-model-large"] input[type=checkbox]')
    assert not imported.is_checked()
    page.goto(f"{app.url}/#/admin/health")
    page.wait_for_selector("#health-status")
    assert page.get_attribute("#health-status", "data-status") in ("healthy", "degraded")
    app.screenshot(page, "admin-health")
    page.goto(f"{app.url}/#/usage")
    page.wait_for_selector("#usage-totals")
    app.screenshot(page, "usage")
    assert page.errors == []


def _admin_api(emulators: Any, accounts: Any, method: str, function: str, path: str = "", body: Any = None) -> Any:
    import requests

    return requests.request(method, emulators.url(function, path), json=body, headers=accounts["admin"].headers, timeout=30)


def test_model_form_shows_the_apis_words_next_to_the_field_and_creates_a_whole_model(app, providers, accounts, emulators) -> None:
    page = app.open(accounts["admin"], "admin/models")
    page.wait_for_selector('#model-form select[name=provider] option[value="openai"]', state="attached")
    page.wait_for_selector(f'#model-form select[name=fallbacks] option[value="{CHAT}"]', state="attached")
    page.fill("#model-form [name=id]", "made-in-form")
    page.fill("#model-form [name=name]", "   ")
    page.select_option("#model-form select[name=provider]", "openai")
    page.click("#model-form button[type=submit]")
    note = '#model-form .field-error[data-field="name"]'
    page.wait_for_selector(f"{note}:not([hidden])")
    assert page.inner_text(note) == "must not be blank"
    assert page.get_attribute("#model-form [name=name]", "aria-invalid") == "true"
    assert page.input_value("#model-form [name=id]") == "made-in-form"  # what was typed stays

    page.fill("#model-form [name=name]", "fake-model")
    page.fill('#model-form [name="config.maxTokens"]', "0")
    page.click("#model-form button[type=submit]")
    note = '#model-form .field-error[data-field="config.maxTokens"]'
    page.wait_for_selector(f"{note}:not([hidden])")
    assert "greater than or equal to 1" in page.inner_text(note)
    assert page.is_hidden('#model-form .field-error[data-field="name"]')

    page.fill('#model-form [name="config.maxTokens"]', "256")
    page.fill('#model-form [name="config.temperature"]', "0.3")
    page.fill('#model-form [name="pricing.inputPer1M"]', "0.1")
    page.fill('#model-form [name="pricing.outputPer1M"]', "0.2")
    page.fill("#model-form [name=capabilities]", "chat, streaming")
    page.select_option("#model-form select[name=fallbacks]", [CHAT])
    page.click("#model-form button[type=submit]")
    page.wait_for_selector('#models-table tr[data-model="made-in-form"]')
    model = _admin_api(emulators, accounts, "GET", "models", "/made-in-form").json()
    assert model["provider"] == "openai" and model["name"] == "fake-model" and model["fallbacks"] == [CHAT]
    assert model["config"] == {"maxTokens": 256, "temperature": 0.3}
    assert model["pricing"]["inputPer1M"] == 0.1 and model["pricing"]["outputPer1M"] == 0.2
    assert model["capabilities"] == ["chat", "streaming"]
    assert page.input_value("#model-form [name=id]") == ""

    # Edit: the form fills from the row; a change is saved with PATCH.
    page.locator('#models-table tr[data-model="made-in-form"] button', has_text="Edit").click()
    assert page.input_value('#model-form [name="config.maxTokens"]') == "256"
    page.fill('#model-form [name="config.maxTokens"]', "512")
    page.click("#model-form button[type=submit]")
    page.wait_for_function("document.querySelector('#model-form [name=id]').value === ''")
    assert _admin_api(emulators, accounts, "GET", "models", "/made-in-form").json()["config"]["maxTokens"] == 512
    assert page.errors == []
    app.screenshot(page, "admin-model-form")


def test_non_admin_on_an_admin_page_is_told_admins_only(app, providers, accounts) -> None:
    for role in ("user", "viewer"):
        page = app.open(accounts[role], "admin/providers")
        page.wait_for_selector("#admins-only")
        assert "Admins only" in page.inner_text("#admins-only")
        assert page.evaluate("location.hash") == "#/admin/providers"
        assert page.locator("#providers-table").count() == 0
        assert page.errors == []


def test_sign_in_errors_do_not_say_whether_the_account_exists(app, accounts) -> None:
    context = app.browser.new_context()
    app.contexts.append(context)
    page = context.new_page()
    page.goto(f"{app.url}/#/chat")
    messages = []
    for email, password in ((accounts["user"].email, "wrong-password-1"), ("nobody-here@demo.test", "wrong-password-1")):
        page.fill("#email", email)
        page.fill("#password", password)
        page.click("#signin button[type=submit]")
        page.wait_for_selector("#signin-error:not([hidden])")
        messages.append(page.inner_text("#signin-error"))
        page.evaluate("document.querySelector('#signin-error').hidden = true")
    assert messages == ["Wrong email or password."] * 2, messages


def test_rate_limit_wait_is_said_once_and_counts_down(app, providers, accounts) -> None:
    from gateway import firebase

    firebase.db().collection("config").document("limits").set({"models": {CHAT: 1}})
    page = app.open(accounts["user"])
    _ask(page, CHAT)
    # The minute's one request may already be spent (an earlier test, same user): then this first one is refused.
    page.wait_for_function("document.querySelector('#chat-output[data-state=done]') || !document.querySelector('#chat-error').hidden")
    if page.is_hidden("#chat-error"):
        _ask(page, CHAT, "again")  # the composer was cleared by the answered Send: ask anew
        page.wait_for_selector("#chat-error:not([hidden])")
    assert page.get_attribute("#chat-error", "data-code") == "RATE_LIMITED"
    text = page.inner_text("#chat-error")
    assert len(re.findall(r"try again", text, re.IGNORECASE)) == 1, text
    first = int(re.search(r"Try again in (\d+) s\.$", text).group(1))
    page.wait_for_function(
        f"(() => {{ const m = document.querySelector('#chat-error').textContent.match(/Try again in (\\d+) s/); return m && +m[1] < {first}; }})()",
        timeout=15_000,
    )


def test_usage_page_reads_like_people_write(app, providers, accounts) -> None:
    from datetime import datetime, timezone

    from gateway import firebase

    records = firebase.db().collection("usage").document(accounts["user"].uid).collection("records")
    at = datetime.now(timezone.utc).replace(microsecond=123456)
    records.document("ok-1").set({"at": at, "modelId": CHAT, "route": "generate_text", "status": "ok", "promptTokens": 10, "completionTokens": 5, "cost": 0.0012})
    records.document("cancel-1").set(
        {"at": at.replace(microsecond=0), "modelId": CHAT, "route": "generate_text", "status": "cancelled", "promptTokens": 0, "completionTokens": 0, "cost": None}
    )
    page = app.open(accounts["user"], "usage")
    page.wait_for_selector("#usage-records td")
    rows = page.eval_on_selector_all("#usage-records tr", "rows => rows.slice(1).map(r => [...r.cells].map(c => c.textContent))")
    by_status = {r[3]: r for r in rows}
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", by_status["ok"][0]), by_status["ok"]
    assert by_status["ok"][5] == "$0.0012" and by_status["ok"][4] == "15"
    assert by_status["cancelled"][4] == "unknown"
    assert "$0.000000" not in page.inner_text("#usage-page")


def test_image_prompt_is_bounded_and_the_favicon_is_served(app, providers, accounts) -> None:
    missing: list[str] = []
    page = app.open(accounts["user"], "images")
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    page.reload()
    page.wait_for_selector("#image-prompt")
    assert page.get_attribute("#image-prompt", "maxlength") == "2000"
    icon = page.eval_on_selector("link[rel=icon]", "l => l.href")
    assert page.request.get(icon).status == 200
    assert missing == [], missing


def test_providers_page_keeps_the_form_sets_a_key_and_deletes_with_its_models(app, providers, accounts, emulators) -> None:
    page = app.open(accounts["admin"], "admin/providers")
    page.fill("#provider-create [name=id]", "kept-form")
    page.fill("#provider-create [name=baseUrl]", "ftp://example.com")
    page.click("#provider-create button[type=submit]")
    note = '#provider-create .field-error[data-field="baseUrl"]'
    page.wait_for_selector(f"{note}:not([hidden])")
    assert page.input_value("#provider-create [name=id]") == "kept-form"
    assert page.input_value("#provider-create [name=baseUrl]") == "ftp://example.com"

    page.fill("#provider-create [name=baseUrl]", providers["lmstudio"].url + "/v1")
    page.click("#provider-create button[type=submit]")
    row = '#providers-table tr[data-provider="kept-form"]'
    page.wait_for_selector(row)
    assert page.inner_text(f"{row} .key-state") == "none"
    page.click(f"{row} details.set-key summary")
    page.fill(f"{row} details.set-key input[type=password]", "sk-rotated-0123456789")
    page.click(f"{row} details.set-key button[type=submit]")
    page.wait_for_function(f"document.querySelector('{row} .key-state')?.textContent === 'stored'")
    assert "sk-rotated" not in page.content()
    assert _admin_api(emulators, accounts, "GET", "providers", "/kept-form").json()["hasKey"] is True

    created = _admin_api(emulators, accounts, "POST", "models", body={"id": "uses-kept-form", "name": "x", "provider": "kept-form", "enabled": True})
    assert created.status_code == 201, created.text
    dialogs: list[str] = []

    def answer(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    page.locator(f"{row} button", has_text="Delete").click()
    page.wait_for_selector(row, state="detached")
    assert len(dialogs) == 2 and "used by 1 enabled model" in dialogs[1], dialogs
    assert _admin_api(emulators, accounts, "GET", "providers", "/kept-form").status_code == 404
    assert _admin_api(emulators, accounts, "GET", "models", "/uses-kept-form").json()["enabled"] is False
def test_chat_is_a_thread_enter_sends_and_focus_stays(app, providers, accounts) -> None:
    """Turns stay in the thread; Enter sends, Shift+Enter is a new line; the composer is cleared and keeps focus."""
    fake = providers["openai"]
    fake.state.update(reply="first answer", chunk_delay=0.3)
    page = app.open(accounts["user"])
    page.wait_for_function(f"[...document.querySelectorAll('#chat-model option')].some(o => o.value === {CHAT!r})")
    page.select_option("#chat-model", CHAT)
    page.click("#chat-prompt")
    page.keyboard.type("line one")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("line two")
    assert page.input_value("#chat-prompt") == "line one\nline two"
    assert page.locator("#chat-thread .msg").count() == 0  # Shift+Enter sent nothing
    page.keyboard.press("Enter")
    # The question shows at once, the composer is empty and focused, and a typing indicator waits for the first token.
    page.wait_for_selector("#chat-typing")
    assert _turns(page)[0] == ("user", "line one\nline two")
    assert page.input_value("#chat-prompt") == ""
    assert page.evaluate("document.activeElement.id") == "chat-prompt"
    page.wait_for_selector("#chat-output[data-state=done]", timeout=20_000)
    assert page.locator("#chat-typing").count() == 0
    # Announced once, by a status region; the streaming text itself is not live.
    assert page.get_attribute("#chat-status", "aria-live") == "polite"
    assert page.inner_text("#chat-status") == "first answer"
    assert page.locator("#chat-thread [aria-live]").count() == 0

    fake.state.update(reply="second answer", chunk_delay=0)
    page.keyboard.type("another")  # the focus is still in the composer
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelectorAll('#chat-thread .msg').length === 4 && document.querySelector('#chat-output').dataset.state === 'done'")
    assert _turns(page) == [("user", "line one\nline two"), ("assistant", "first answer"), ("user", "another"), ("assistant", "second answer")]
    # The second turn continued the same conversation: the gateway sent the first exchange with it.
    sent = fake.state["requests"][-1]["body"]["messages"]
    assert [m["content"] for m in sent if m["role"] != "system"] == ["line one\nline two", "first answer", "another"]

    # Regenerate replaces the last answer, under the same question.
    fake.state.update(reply="better answer")
    page.click("#chat-regenerate")
    page.wait_for_function(
        "document.querySelector('#chat-output').innerText.trim() === 'better answer' && document.querySelector('#chat-output').dataset.state === 'done'"
    )
    assert _turns(page) == [("user", "line one\nline two"), ("assistant", "first answer"), ("user", "another"), ("assistant", "better answer")]
    assert page.evaluate("document.activeElement.id") == "chat-prompt"
    assert page.errors == []
    app.screenshot(page, "chat-thread")


HOSTILE = (
    "Some **bold** text.\n\n"
    '<img src=x onerror="window.pwned=1"> <script>window.pwned=2</script>\n\n'
    '[click me](javascript:window.pwned=3) and <a href="javascript:window.pwned=4">me</a> '
    '<svg onload="window.pwned=5"></svg> <iframe src="javascript:window.pwned=6"></iframe>\n\n'
    "```python\nprint('hi')\n```"
)


def test_hostile_markdown_is_rendered_but_never_runs(app, providers, accounts) -> None:
    """The answer is Markdown through DOMPurify: formatting and code blocks show; scripts, handlers, javascript: links do not."""
    providers["openai"].state.update(reply=HOSTILE)
    page = app.open(accounts["user"])
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    _ask(page, CHAT)
    page.wait_for_selector("#chat-output[data-state=done]", timeout=20_000)
    out = "#chat-output"
    assert page.inner_text(f"{out} strong") == "bold"
    assert page.inner_text(f"{out} pre code") == "print('hi')\n"
    # highlighted: the fence named Python, so its built-in is coloured (spans built from the text, not the answer's HTML)
    assert page.inner_text(f"{out} pre code .hljs-built_in") == "print"
    for tag in ("img", "script", "svg", "iframe"):
        assert page.locator(f"{out} {tag}").count() == 0, tag
    assert page.eval_on_selector_all(f"{out} *", "nodes => nodes.flatMap(n => [...n.attributes].map(a => a.name)).filter(n => n.startsWith('on'))") == []
    hrefs = page.eval_on_selector_all(f"{out} a", "links => links.map(a => a.getAttribute('href'))")
    assert page.locator(f"{out} a").count() == 2 and not any(h and "javascript" in h.lower() for h in hrefs), hrefs
    page.locator(f"{out} a", has_text="click me").click()
    page.wait_for_timeout(300)
    assert page.evaluate("window.pwned") is None
    # The code block's copy button copies the code alone.
    page.click(f"{out} pre button.copy-code")
    assert page.evaluate("navigator.clipboard.readText()") == "print('hi')\n"
    assert page.errors == []
    app.screenshot(page, "chat-markdown")
    # The user's own message is text, never HTML.
    _ask(page, CHAT, '<img src=x onerror="window.pwned=7"> *not emphasis*')
    page.wait_for_function("document.querySelectorAll('#chat-thread .msg.user').length === 2")
    assert _turns(page)[2] == ("user", '<img src=x onerror="window.pwned=7"> *not emphasis*')
    page.wait_for_selector("#chat-output[data-state=done]", timeout=20_000)
    assert page.evaluate("window.pwned") is None and page.locator("#chat-thread img").count() == 0


def test_history_is_listed_and_restored_after_reload(app, providers, accounts) -> None:
    from gateway import firebase

    providers["openai"].state.update(reply="stored answer")
    page = app.open(accounts["user"])
    _ask(page, CHAT, "remember me")
    page.wait_for_selector("#chat-output[data-state=done]", timeout=COLD_START)
    page.wait_for_function("/^#\\/chat\\/[A-Za-z0-9_-]+$/.test(location.hash)")
    conversation = page.evaluate("location.hash").rsplit("/", 1)[1]
    item = f'#chat-conversations li[data-conversation="{conversation}"]'
    page.wait_for_selector(item)
    assert page.inner_text(f"{item} button.open") == "remember me"

    page.reload()  # the URL names the conversation: its messages come back
    page.wait_for_selector("#chat-output[data-state=done]", timeout=COLD_START)
    assert _turns(page) == [("user", "remember me"), ("assistant", "stored answer")]
    assert page.get_attribute(f"{item} button.open", "aria-current") == "true"

    page.click("#chat-new")
    assert page.locator("#chat-thread .msg").count() == 0
    assert page.evaluate("location.hash") == "#/chat"
    page.click(f"{item} button.open")
    page.wait_for_function("document.querySelectorAll('#chat-thread .msg').length === 2")
    assert _turns(page)[1] == ("assistant", "stored answer")

    page.click(f"{item} button.delete")
    page.wait_for_selector(item, state="detached")
    assert page.locator("#chat-thread .msg").count() == 0 and page.evaluate("location.hash") == "#/chat"
    uid = accounts["user"].uid
    assert not firebase.db().collection("users").document(uid).collection("conversations").document(conversation).get().exists
    # A URL naming a conversation that is gone says so and starts afresh.
    page.goto(f"{app.url}/#/chat/{conversation}")
    page.wait_for_selector("#chat-error:not([hidden])")
    assert page.get_attribute("#chat-error", "data-code") == "NOT_FOUND"
    assert page.evaluate("location.hash") == "#/chat"
    assert page.errors == []
    app.screenshot(page, "chat-history")


def test_admin_default_model_is_one_that_works(app, providers, accounts) -> None:
    """Admins are listed disabled models too: marked, not selectable, never the default."""
    from gateway import firebase

    db = firebase.db()
    db.collection("providers").document("dead").set({"type": "openai", "baseUrl": "http://127.0.0.1:9/v1", "enabled": False, "hasKey": False})
    db.collection("models").document("aaa-off").set({"name": "m", "displayName": "AAA off", "provider": "openai", "type": "text", "enabled": False})
    db.collection("models").document("aab-dead").set({"name": "m", "displayName": "AAB dead provider", "provider": "dead", "type": "text", "enabled": True})
    page = app.open(accounts["admin"])
    page.wait_for_function("['aaa-off', 'aab-dead'].every(id => [...document.querySelectorAll('#chat-model option')].some(o => o.value === id))")
    assert _options(page, "#chat-model")[:2] == ["aaa-off", "aab-dead"]  # listed first, by name
    marked = page.eval_on_selector_all("#chat-model option:disabled", "options => options.map(o => [o.value, o.textContent])")
    assert marked == [["aaa-off", "AAA off (disabled)"], ["aab-dead", "AAB dead provider (provider disabled)"]]
    assert page.input_value("#chat-model") not in ("aaa-off", "aab-dead")
    page.fill("#chat-prompt", "hi")
    page.press("#chat-prompt", "Enter")
    page.wait_for_selector("#chat-output[data-state=done]", timeout=20_000)
    assert page.locator("#chat-error:not([hidden])").count() == 0
    assert page.errors == []


def test_new_chat_mid_answer_stops_it_and_stays_new(app, providers, accounts) -> None:
    fake = providers["openai"]
    fake.state.update(reply=" ".join(["word"] * 200), chunk_delay=0.1)
    page = app.open(accounts["user"])
    _ask(page, CHAT, "abandoned")
    page.wait_for_function("window.chatTimings.length >= 2 && /^#\\/chat\\/./.test(location.hash)")
    page.click("#chat-new")
    assert _wait_for(lambda: fake.state.get("disconnected") is True), "the upstream kept streaming after New chat"
    page.wait_for_function("document.querySelector('#chat-stop').disabled")
    # The stopped answer's conversation did not come back: the thread and the URL stay new.
    assert page.locator("#chat-thread .msg").count() == 0
    assert page.evaluate("location.hash") == "#/chat"
    assert page.locator("#chat-conversations button[aria-current]").count() == 0
    assert page.errors == []


def test_sidebar_pages_through_many_conversations(app, providers, accounts) -> None:
    """More than a page (50) of conversations: the rest come with "More conversations", newest first."""
    from datetime import UTC, datetime, timedelta

    from gateway import firebase

    mine = firebase.db().collection("users").document(accounts["user"].uid).collection("conversations")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    batch = firebase.db().batch()
    for i in range(55):
        at = start + timedelta(minutes=i)
        batch.set(mine.document(f"c{i:02d}"), {"title": f"chat {i}", "modelId": CHAT, "createdAt": at, "updatedAt": at, "messageCount": 0})
    batch.commit()
    page = app.open(accounts["user"])
    page.wait_for_selector("#chat-conversations[data-loaded]")
    assert page.locator("#chat-conversations li").count() == 50
    assert page.inner_text("#chat-conversations li:first-child button.open") == "chat 54"
    page.click("#chat-more")
    page.wait_for_function("document.querySelectorAll('#chat-conversations li').length === 55")
    assert page.inner_text("#chat-conversations li:last-child button.open") == "chat 0"
    assert page.is_hidden("#chat-more")
    assert page.errors == []
