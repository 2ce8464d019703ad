"""The usage page and the admin dashboard in headless Chromium, on the emulator stack: charts with data, the
ledger a page at a time, latency percentiles per model, provider and route, and the admin-only guard.

Prints what a page load costs: Firestore documents read and the time until the charts are drawn.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import requests
from test_browser import CHAT, _ask

PAGE_SIZE = 10  # web/src/app/pages/usage.js PAGE_SIZE
REQUESTS = PAGE_SIZE + 3  # more than a page of the ledger


@pytest.fixture
def traffic(providers, accounts, emulators) -> dict[str, int]:
    """A page and a bit of ledger for the user, on two models of two providers; for the admin, one answer and one provider error."""
    sent = {"user": 0, "admin": 0}
    for i in range(REQUESTS - 1):  # one more is asked from the browser, in the test
        model = CHAT if i % 3 else "lmstudio-chat"
        response = requests.post(emulators.url("generate_text"), json={"modelId": model, "prompt": f"hi {i}"}, headers=accounts["user"].headers, timeout=60)
        assert response.status_code == 200, response.text
        sent["user"] += 1
    response = requests.post(emulators.url("generate_text"), json={"modelId": CHAT, "prompt": "hi"}, headers=accounts["admin"].headers, timeout=60)
    assert response.status_code == 200, response.text
    sent["admin"] += 1
    providers["lmstudio"].state["faults"] = [{"status": 400, "body": {"error": {"message": "the fake refuses"}}}]
    response = requests.post(emulators.url("generate_text"), json={"modelId": "lmstudio-chat", "prompt": "fail"}, headers=accounts["admin"].headers, timeout=60)
    assert response.status_code >= 400, response.text
    sent["errors"] = 1
    return sent


def _ledger_ids(page: Any) -> list[str]:
    return page.eval_on_selector_all("#usage-records tbody tr", "rows => rows.map(r => r.dataset.id)")


def _usage_reads(uid: str) -> tuple[int, int]:
    """What the usage page reads: (a load: the window's day shards and a page of records, +1 to know if there is
    more; a page turn with view=records: that page of records alone, the day shards not read again)."""
    from gateway import firebase

    user = firebase.db().collection("usage").document(uid)
    shards = sum(1 for _ in user.collection("days").stream())  # all of them are in the window (made today)
    records = sum(1 for _ in user.collection("records").stream())
    return shards + min(records, PAGE_SIZE + 1), min(records, PAGE_SIZE + 1)


def _usage_calls(page: Any) -> list[dict[str, list[str]]]:
    """The query strings of the page's calls to the usage function, in order (recorded by the test's listener)."""
    from urllib.parse import parse_qs, urlparse

    return [parse_qs(urlparse(url).query) for url in page.usage_calls]


def test_usage_page_charts_the_days_and_pages_the_ledger(web, providers, accounts, traffic, capsys) -> None:
    page = web.open(accounts["user"])
    page.usage_calls = []
    page.on("request", lambda r: r.resource_type == "fetch" and r.method == "GET" and "/usage" in r.url and page.usage_calls.append(r.url))
    _ask(page, CHAT, "one from the browser")
    page.wait_for_selector("#chat-output[data-state=done]", timeout=20_000)

    started = time.monotonic()
    page.goto(f"{web.url}/#/usage")
    page.wait_for_selector("#usage-tokens-chart canvas", timeout=20_000)
    page.wait_for_selector("#usage-records tbody tr")
    load_ms = (time.monotonic() - started) * 1000

    # The charts: a canvas with data, and the same in words and in a table for those who can't see it.
    assert int(page.get_attribute("#usage-tokens-chart", "data-points") or 0) >= 1
    assert int(page.get_attribute("#usage-cost-chart", "data-points") or 0) >= 1
    caption = page.inner_text("#usage-tokens-chart figcaption")
    assert re.search(r"Tokens per day [\d,]+ in total from \d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d \(UTC\); 1 of 30 days with any", caption), caption
    assert page.get_attribute("#usage-tokens-chart .chart-plot", "aria-hidden") == "true"
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert page.is_hidden("#usage-tokens-chart table")
    page.focus("#usage-tokens-chart summary")
    page.keyboard.press("Enter")  # the numbers, from the keyboard
    assert page.is_visible("#usage-tokens-chart table")
    assert page.inner_text("#usage-tokens-chart table tbody tr td") == today
    assert re.fullmatch(rf"{REQUESTS} requests, [\d,]+ tokens, 0 images, \$[\d.]+ from \d{{4}}-\d\d-\d\d to {today} \(UTC\)\.", page.inner_text("#usage-totals"))
    assert "Daily limits reset at" in page.inner_text("#usage-reset")

    # The ledger, a page at a time: newest first, Older and Newer.
    first = _ledger_ids(page)
    assert len(first) == PAGE_SIZE
    assert page.inner_text("#usage-page-info") == f"Requests 1 to {PAGE_SIZE}"
    assert page.is_disabled("#usage-newer") and page.is_enabled("#usage-older")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", page.inner_text("#usage-records tbody tr td time"))
    page.click("#usage-older")
    page.wait_for_function(f"document.querySelector('#usage-page-info').textContent === 'Requests {PAGE_SIZE + 1} to {REQUESTS}'")
    second = _ledger_ids(page)
    assert len(second) == REQUESTS - PAGE_SIZE and not set(first) & set(second)
    assert page.is_disabled("#usage-older") and page.is_enabled("#usage-newer")
    page.click("#usage-newer")
    page.wait_for_function("document.querySelector('#usage-page-info').textContent === 'Requests 1 to 10'")
    assert _ledger_ids(page) == first
    # The load asked for the whole report; each page turn for its records alone (the totals and charts stay).
    calls = _usage_calls(page)
    assert [call.get("view") for call in calls] == [None, ["records"], ["records"]], calls
    assert "pageToken" in calls[1] and "pageToken" not in calls[2]
    assert page.inner_text("#usage-totals").startswith(f"{REQUESTS} requests")

    # Another window: everything is asked anew over 7 days.
    page.select_option("#usage-window", "7")
    page.wait_for_function("document.querySelector('#usage-tokens-chart figcaption').textContent.includes('of 7 days')")
    assert page.errors == []
    web.screenshot(page, "usage-charts")
    with capsys.disabled():
        load, turn = _usage_reads(accounts["user"].uid)
        print(
            f"\n[dashboard] usage page: {load} Firestore documents read per load, charts and ledger shown {load_ms:.0f} ms after navigation; "
            f"at most {turn} per Older/Newer click (view=records; the whole report, as before, read {load})"
        )


def test_admin_dashboard_shows_models_providers_and_latency_percentiles(web, providers, accounts, traffic, capsys) -> None:
    page = web.open(accounts["admin"], "usage")
    page.wait_for_selector("#usage-totals")
    started = time.monotonic()
    page.click('nav a[data-route="admin/dashboard"]')
    page.wait_for_selector("#dashboard-chart canvas", timeout=20_000)
    page.wait_for_selector("#dashboard-source[data-documents]")
    load_ms = (time.monotonic() - started) * 1000

    requests_made = traffic["user"] + traffic["admin"] + traffic["errors"]
    assert re.match(rf"{requests_made} requests, 1 error \(\d+\.\d%\), [\d,]+ tokens", page.inner_text("#dashboard-totals")), page.inner_text("#dashboard-totals")
    models = page.eval_on_selector_all("#dashboard-models tbody tr", "rows => rows.map(r => r.dataset.key)")
    assert set(models) >= {CHAT, "lmstudio-chat"}
    assert page.inner_text(f'#dashboard-models tr[data-key="{CHAT}"] td:nth-child(2)') == "openai"
    assert page.inner_text(f'#dashboard-models tr[data-key="{CHAT}"] td:nth-child(4)') == "0"
    assert re.fullmatch(r"1 \(\d+%\)", page.inner_text('#dashboard-models tr[data-key="lmstudio-chat"] td:nth-child(4)'))  # the refused one
    providers_shown = page.eval_on_selector_all("#dashboard-providers tbody tr", "rows => rows.map(r => r.dataset.key)")
    assert set(providers_shown) >= {"openai", "lmstudio"}
    assert page.locator("#dashboard-routes tbody tr").count() >= 1
    for table in ("#dashboard-models", "#dashboard-providers", "#dashboard-routes"):
        for cell in ("p50", "p95", "p99"):
            text = page.inner_text(f"{table} tbody tr td.{cell}")
            assert re.fullmatch(r"[\d,]+ ms", text), (table, cell, text)
    # The chart: one line per model, in words too; then per provider, and another measure.
    caption = page.inner_text("#dashboard-chart figcaption")
    assert caption.startswith("Requests per day by model") and CHAT in caption, caption
    page.select_option("#dashboard-group", "byProvider")
    page.select_option("#dashboard-measure", "totalTokens")
    page.wait_for_function("document.querySelector('#dashboard-chart figcaption').textContent.startsWith('Tokens per day by provider')")
    assert "lmstudio" in page.inner_text("#dashboard-chart .chart-legend")
    documents = int(page.get_attribute("#dashboard-source", "data-documents") or -1)
    assert documents >= 0
    assert page.errors == []
    web.screenshot(page, "admin-dashboard")
    with capsys.disabled():
        print(f"\n[dashboard] admin dashboard: documentsRead {documents} per load (30 days), shown {load_ms:.0f} ms after the click")


def test_a_user_opening_the_dashboard_sees_admins_only(web, providers, accounts) -> None:
    page = web.open(accounts["user"], "admin/dashboard")
    page.wait_for_selector("#admins-only")
    assert "Admins only" in page.inner_text("#admins-only")
    assert page.locator("#dashboard-page").count() == 0
    assert page.locator('nav a[data-route="admin/dashboard"]').count() == 0
