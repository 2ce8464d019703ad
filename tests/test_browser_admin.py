"""The admin pages in headless Chromium: the audit trail names people and shows what changed, the model form offers
what exists, health re-checks itself; and a viewer is told why they cannot generate before trying.

Uses tests/test_browser.py's fixtures (the app served by the Hosting emulator, the fake providers).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from test_browser import CHAT, _admin_api, _options
from test_browser_layout import _axe


@pytest.fixture
def app(providers, web) -> Any:
    return web


def _health_calls(page: Any) -> list[str]:
    calls: list[str] = []
    page.on("request", lambda r: calls.append(r.url) if "/health" in r.url and r.method == "GET" else None)
    return calls


def test_audit_names_the_admin_and_shows_the_fields_an_edit_changed(app, providers, accounts) -> None:
    from gateway import firebase

    admin = accounts["admin"]
    # Records written before emails were kept name a uid: the page resolves the admin's own; a key's binding never shows.
    audit = firebase.db().collection("audit")
    old = datetime.now(timezone.utc) - timedelta(days=1)
    for i in range(30):
        audit.document(f"old-{i:02d}").set(
            {"actor": admin.uid, "action": "update", "collection": "providers", "docId": f"p{i}", "via": "api", "at": old - timedelta(minutes=i),
             "before": {"baseUrl": "https://a.example/v1", "keyBinding": "f" * 64}, "after": {"baseUrl": "https://b.example/v1", "keyBinding": "e" * 64}}
        )
    audit.document("stranger").set(
        {"actor": "uid-of-someone-gone", "action": "delete", "collection": "models", "docId": "gone", "via": "api", "at": old - timedelta(days=1),
         "before": {"name": "x"}, "after": None}
    )

    page = app.open(admin, "admin/models")
    page.locator(f'#models-table tr[data-model="{CHAT}"] button', has_text="Edit").click()
    page.fill("#model-form [name=displayName]", "Chat, edited in the page")
    page.fill('#model-form [name="config.temperature"]', "0.25")
    page.click("#model-form button[type=submit]")
    page.wait_for_function("document.querySelector('#model-form [name=id]').value === ''")

    page.goto(f"{app.url}/#/admin/audit")
    newest = f'#audit-table tr[data-doc="models/{CHAT}"]'
    page.wait_for_selector(newest)
    row = page.locator(newest).first
    assert row.locator(".actor").inner_text() == admin.email  # who: an email, not a uid
    assert row.locator("td").nth(2).inner_text() == "update"
    assert row.locator('li[data-path="displayName"]').inner_text().endswith('→ "Chat, edited in the page"')
    assert row.locator('li[data-path="config.temperature"]').count() == 1
    assert row.locator('li[data-path="updatedAt"]').count() == 0  # the stamps every write changes are not news

    # Paging: 25 at a time, then the rest; old records name the admin through their uid, never show a binding.
    assert page.locator("#audit-table tr[data-record]").count() == 25
    for _ in range(10):  # the fixtures' own writes are audited too: as many pages as it takes to reach the oldest
        shown = page.locator("#audit-table tr[data-record]").count()
        page.click("#audit-more")
        page.wait_for_function(f"document.querySelectorAll('#audit-table tr[data-record]').length > {shown}")
        if page.is_hidden("#audit-more"):
            break
    page.wait_for_selector('#audit-table tr[data-record="stranger"]')
    assert page.is_hidden("#audit-more")
    old_row = page.locator('#audit-table tr[data-record="old-29"]')
    assert old_row.locator(".actor").inner_text() == admin.email
    assert old_row.locator('li[data-path="keyBinding"]').inner_text() == "keyBinding: changed (value not shown)"
    assert "f" * 64 not in page.content()
    assert page.locator('#audit-table tr[data-record="stranger"] .actor').inner_text() == "uid-of-someone-gone (no email recorded)"
    assert page.errors == []


def test_model_form_offers_existing_providers_other_models_and_every_field(app, providers, accounts, emulators) -> None:
    page = app.open(accounts["admin"], "admin/models")
    page.wait_for_selector(f'#model-form select[name=fallbacks] option[value="{CHAT}"]', state="attached")
    page.wait_for_selector('#model-form select[name=provider] option[value="openai"]', state="attached")
    listed = {p["id"] for p in _admin_api(emulators, accounts, "GET", "providers").json()["providers"]}
    assert set(_options(page, "#model-form select[name=provider]")) == listed | {""}  # a choice, not free text
    models = {m["id"] for m in _admin_api(emulators, accounts, "GET", "models", "?limit=100").json()["models"]}
    assert set(_options(page, "#model-form select[name=fallbacks]")) == models

    # Editing a model: it is not its own fallback.
    page.locator(f'#models-table tr[data-model="{CHAT}"] button', has_text="Edit").click()
    assert CHAT not in _options(page, "#model-form select[name=fallbacks]")
    page.locator("#model-form button", has_text="Cancel edit").click()

    # Every field of the schema has an input: the endpoint and an image model's config too.
    page.fill("#model-form [name=id]", "image-from-form")
    page.fill("#model-form [name=name]", "flux")
    page.select_option("#model-form select[name=provider]", "huggingface")
    page.select_option("#model-form select[name=type]", "image")
    page.fill("#model-form [name=endpointURL]", "ftp://nowhere.example")
    page.fill('#model-form [name="config.width"]', "512")
    page.fill('#model-form [name="config.height"]', "384")
    page.fill('#model-form [name="config.steps"]', "20")
    page.fill('#model-form [name="config.guidanceScale"]', "7.5")
    page.fill('#model-form [name="pricing.perImage"]', "0.003")
    page.click("#model-form button[type=submit]")
    note = '#model-form .field-error[data-field="endpointURL"]'
    page.wait_for_selector(f"{note}:not([hidden])")
    assert "URL" in page.inner_text(note)  # the API's words, next to the field

    page.fill("#model-form [name=endpointURL]", "")
    page.click("#model-form button[type=submit]")
    page.wait_for_selector('#models-table tr[data-model="image-from-form"]')
    model = _admin_api(emulators, accounts, "GET", "models", "/image-from-form").json()
    assert model["type"] == "image" and model["provider"] == "huggingface"
    assert model["config"] == {"width": 512, "height": 384, "steps": 20, "guidanceScale": 7.5}
    assert model["pricing"]["perImage"] == 0.003
    assert page.errors == []


def test_health_rechecks_while_shown_pauses_when_hidden_and_never_overlaps(app, providers, accounts) -> None:
    page = app.open(accounts["admin"])
    page.clock.install()  # the page's timers run on Playwright's clock: 30 s pass without waiting for them
    calls = _health_calls(page)
    page.goto(f"{app.url}/#/admin/health")
    page.wait_for_selector("#health-status")
    page.wait_for_function("document.querySelector('#health-checked').textContent === 'checked 0 s ago'")
    assert len(calls) == 1

    page.clock.run_for(12_000)
    page.wait_for_function("document.querySelector('#health-checked').textContent === 'checked 12 s ago'")
    assert len(calls) == 1
    page.clock.run_for(19_000)  # past 30 s: checked again by itself
    page.wait_for_function("document.querySelector('#health-checked').dataset.age !== '' && Number(document.querySelector('#health-checked').dataset.age) < 12")
    assert len(calls) == 2

    # Two clicks while one check is under way: one request.
    page.evaluate("(() => { const b = [...document.querySelectorAll('#health-page button')].find(b => b.textContent === 'Refresh now'); b.click(); b.click(); })()")
    page.wait_for_function("document.querySelector('#health-checked').textContent === 'checked 0 s ago'")
    page.clock.run_for(1_000)
    assert len(calls) == 3

    # A hidden tab is not polled; shown again after the period, it checks at once.
    page.evaluate("Object.defineProperty(document, 'hidden', { configurable: true, get: () => true }); document.dispatchEvent(new Event('visibilitychange'))")
    page.clock.run_for(95_000)
    assert len(calls) == 3
    page.evaluate("Object.defineProperty(document, 'hidden', { configurable: true, get: () => false }); document.dispatchEvent(new Event('visibilitychange'))")
    page.wait_for_function("document.querySelector('#health-checked').textContent === 'checked 0 s ago'")
    assert len(calls) == 4

    # The providers page re-checks too, updating the health cells without redrawing the rows (a key being typed stays).
    page.goto(f"{app.url}/#/admin/providers")
    page.wait_for_selector('#providers-table tr[data-provider="openai"] td.health')
    page.wait_for_function("document.querySelector('#providers-checked').textContent === 'checked 0 s ago'")
    row = page.locator('#providers-table tr[data-provider="openai"]')
    assert row.locator("td.health").inner_text().startswith("healthy")
    row.locator("summary").click()
    row.locator("input[type=password]").fill("half-typed-key")
    before = len(calls)
    page.clock.run_for(31_000)
    page.wait_for_function("Number(document.querySelector('#providers-checked').dataset.age) < 5")
    assert len(calls) == before + 1
    assert row.locator("input[type=password]").input_value() == "half-typed-key"
    # Leaving the page stops its timers.
    page.goto(f"{app.url}/#/usage")
    before = len(calls)
    page.clock.run_for(65_000)
    assert len(calls) == before
    assert page.errors == []


def test_viewer_is_told_before_sending_why_they_cannot_generate(app, providers, accounts) -> None:
    viewer = app.open(accounts["viewer"])
    # Chat says it once, in its composer's place (not a second, general note above it).
    viewer.wait_for_selector("#chat-readonly")
    assert viewer.locator("#viewer-note").count() == 0
    assert _axe(viewer) == []
    viewer.goto(f"{app.url}/#/images")
    viewer.wait_for_selector("#viewer-note")
    assert "generating needs the user role" in viewer.inner_text("#viewer-note")
    assert _axe(viewer) == []
    viewer.goto(f"{app.url}/#/usage")
    viewer.wait_for_selector('nav a[data-route="usage"][aria-current="page"]')
    assert viewer.locator("#viewer-note").count() == 0
    user = app.open(accounts["user"])
    user.wait_for_selector("#chat-model option", state="attached")
    assert user.locator("#viewer-note").count() == 0
    assert viewer.errors == [] and user.errors == []
