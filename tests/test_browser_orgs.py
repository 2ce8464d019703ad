"""Organisations in the web app (headless Chromium): the header's switcher and what follows it (the navigation, the
calls' X-Org-Id, the conversation list), the org admin pages (members, the organisation), and the project admins'
list of organisations.

Uses tests/test_browser.py's fixtures (the app served by the Hosting emulator, the fake providers).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests
from test_browser_layout import _axe, _overflow, _unlabelled

ORG_PAGES = ("org/members", "org/settings")


@pytest.fixture
def app(providers, web) -> Any:
    return web


def _api(emulators: Any, account: Any, method: str, path: str = "", body: Any = None, **headers: str) -> Any:
    response = requests.request(method, emulators.url("orgs", path), json=body, headers={**account.headers, **headers}, timeout=30)
    assert response.ok, response.text
    return response.json() if response.content else None


@pytest.fixture
def orgs(app, emulators, accounts) -> dict[str, Any]:
    """Two organisations: `lead` owns both; `two` is a member of acme and an admin of globex; accounts["user"] is in none."""
    lead, two = emulators.sign_up("user"), emulators.sign_up("user")
    admin = accounts["admin"]
    for org_id, name in (("acme", "Acme"), ("globex", "Globex")):
        _api(emulators, admin, "POST", "", {"id": org_id, "name": name, "ownerEmail": lead.email, "settings": {"sharedModels": ["openai-chat"]}})
    _api(emulators, lead, "POST", "/acme/members", {"email": two.email, "role": "member"})
    _api(emulators, lead, "POST", "/globex/members", {"email": two.email, "role": "admin"})
    return {"lead": lead, "two": two}


def _conversations(uid: str) -> None:
    """One conversation in each organisation and one in none (as kept before organisations: no `org` at all)."""
    from gateway import firebase

    now = datetime.now(timezone.utc)
    mine = firebase.db().collection("users").document(uid).collection("conversations")
    for i, (conv_id, org) in enumerate((("c-acme", "acme"), ("c-globex", "globex"), ("c-none", None))):
        data = {"title": f"talk {conv_id}", "modelId": "openai-chat", "createdAt": now, "updatedAt": now - timedelta(minutes=i)}
        mine.document(conv_id).set({**data, "org": org} if org else data)


def _nav(page: Any) -> list[str]:
    return page.eval_on_selector_all("#nav a", "links => links.map(a => a.dataset.route)")


def _listed(page: Any, expected: str) -> None:
    """The conversation list shows exactly ``expected``."""
    page.wait_for_function(
        "want => { const ids = [...document.querySelectorAll('#chat-conversations li')].map(li => li.dataset.conversation); return ids.join() === want; }",
        arg=expected,
        timeout=20_000,
    )


def test_a_member_of_two_orgs_switches_and_the_header_models_and_conversations_follow(app, orgs, emulators) -> None:
    from gateway import firebase

    two = orgs["two"]
    _conversations(two.uid)
    page = app.open(two)
    seen: list[tuple[str, str | None]] = []  # (function, X-Org-Id) of every gateway call
    page.on("request", lambda r: seen.append((r.url.split("?")[0].rsplit("/", 1)[-1], r.headers.get("x-org-id"))) if r.method != "OPTIONS" else None)

    # No default yet: project-wide, the switcher offering both organisations with the role in each.
    page.wait_for_selector("#org-switch")
    assert page.inner_text("label[for=org-switch]") == "Organisation"
    assert page.eval_on_selector_all("#org-switch option", "o => o.map(x => [x.value, x.textContent])") == [
        ["", "Project-wide (no organisation)"], ["acme", "Acme (member)"], ["globex", "Globex (admin)"]]
    assert page.input_value("#org-switch") == ""
    _listed(page, "c-none")
    assert "org/members" not in _nav(page)

    # Acme, where they are a member: its conversations; every call names it; no admin pages.
    seen.clear()
    page.select_option("#org-switch", "acme")
    _listed(page, "c-acme")
    page.wait_for_function("document.querySelector('#chat-model option') !== null")
    assert ("models", "acme") in seen, seen
    assert all(org == "acme" for fn, org in seen if fn in ("models", "health") and org is not None)
    assert not set(ORG_PAGES) & set(_nav(page)) and "admin/models" not in _nav(page)

    # Globex, where they are an admin: its conversations, its calls, and its admin pages in the navigation.
    seen.clear()
    page.select_option("#org-switch", "globex")
    _listed(page, "c-globex")
    page.wait_for_function("document.querySelector('#chat-model option') !== null")
    assert ("models", "globex") in seen, seen
    assert {"org/members", "org/settings", "admin/models", "admin/providers"} <= set(_nav(page))
    assert "admin/dashboard" not in _nav(page)  # project admins' pages stay theirs
    # Remembered: the gateway's default, and the next visit starts there.
    page.wait_for_selector("#org[data-remembered=globex]", state="attached")
    assert (firebase.db().collection("users").document(two.uid).get().to_dict() or {}).get("defaultOrg") == "globex"
    page.reload()
    page.wait_for_selector("#org-switch")
    assert page.input_value("#org-switch") == "globex"
    _listed(page, "c-globex")
    # The catalogue pages say whose catalogue they edit.
    page.click('#nav a[data-route="admin/models"]')
    page.wait_for_selector("#org-scope")
    assert "organisation Globex (globex)" in page.inner_text("#org-scope")

    # Back to project-wide: the default is forgotten, the calls name no organisation.
    page.goto(f"{app.url}/#/chat")
    page.wait_for_selector("#chat-conversations li")
    seen.clear()
    page.select_option("#org-switch", "")
    _listed(page, "c-none")
    assert "defaultOrg" not in (firebase.db().collection("users").document(two.uid).get().to_dict() or {})
    page.wait_for_function("document.querySelector('#chat-model option') !== null")
    # An empty X-Org-Id: explicitly none, so no instance's cached profile can bring the old default back.
    assert [org for fn, org in seen if fn == "models"] and all(org == "" for fn, org in seen if fn == "models")
    assert _axe(page) == []
    assert page.errors == []


def test_a_user_in_no_org_sees_no_switcher_nor_org_pages(app, orgs, accounts) -> None:
    page = app.open(accounts["user"])
    page.wait_for_selector("#chat-model option", state="attached")
    page.wait_for_selector("#nav a")
    assert page.locator("#org-switch").count() == 0
    assert page.is_hidden("#org")
    assert not set(ORG_PAGES) & set(_nav(page)) and "admin/models" not in _nav(page)
    page.goto(f"{app.url}/#/org/members")
    page.wait_for_selector("#admins-only")
    assert "Organisation admins only" in page.inner_text("#admins-only")
    assert page.errors == []


def test_a_member_does_not_see_org_admin_pages(app, orgs, emulators) -> None:
    two = orgs["two"]
    _api(emulators, two, "PUT", "/default", {"orgId": "acme"})
    page = app.open(two, "org/members")
    page.wait_for_selector("#admins-only")
    assert page.input_value("#org-switch") == "acme"
    assert "your role there is member" in page.inner_text("#admins-only")
    assert not set(ORG_PAGES) & set(_nav(page))
    page.goto(f"{app.url}/#/admin/providers")
    page.wait_for_selector("#admins-only")
    assert page.locator("#members-table").count() == 0 and page.locator("#providers-table").count() == 0
    assert page.errors == []


def test_an_org_admin_invites_by_email_and_changes_a_role(app, orgs, accounts, emulators) -> None:
    from gateway import firebase

    two, newcomer = orgs["two"], accounts["user"]
    _api(emulators, two, "PUT", "/default", {"orgId": "globex"})
    page = app.open(two, "org/members")
    page.wait_for_selector(f'#members-table tr[data-email="{two.email}"]')
    # An org admin is not offered owner (only an owner grants it).
    assert "owner" not in page.eval_on_selector_all("#invite-form select[name=role] option", "o => o.map(x => x.value)")

    page.fill("#invite-form [name=email]", "nobody@nowhere.example")
    page.click("#invite-form button[type=submit]")
    note = '#invite-form .field-error[data-field="email"]'
    page.wait_for_selector(f"{note}:not([hidden])")
    assert "no user with this email" in page.inner_text(note)  # the API's words, next to the field

    page.fill("#invite-form [name=email]", newcomer.email)
    page.select_option("#invite-form select[name=role]", "viewer")
    page.click("#invite-form button[type=submit]")
    row = f'#members-table tr[data-email="{newcomer.email}"]'
    page.wait_for_selector(row)
    assert page.inner_text("#members-status") == f"{newcomer.email} added as viewer."
    member = firebase.db().document(f"orgs/globex/members/{newcomer.uid}")
    assert member.get().get("role") == "viewer"

    page.select_option(f"{row} select[name=role]", "member")
    page.wait_for_function("() => document.querySelector('#members-status').textContent.endsWith('is now member.')")
    assert member.get().get("role") == "member"
    assert _axe(page) == [] and _unlabelled(page) == []
    assert page.errors == []


def test_the_last_owner_is_told_in_words_why_they_stay(app, orgs, emulators) -> None:
    lead = orgs["lead"]
    _api(emulators, lead, "PUT", "/default", {"orgId": "acme"})
    page = app.open(lead, "org/members")
    row = f'#members-table tr[data-email="{lead.email}"]'
    page.wait_for_selector(row)
    page.select_option(f"{row} select[name=role]", "admin")
    page.wait_for_selector("#members-error:not([hidden])")
    assert "always keeps an owner" in page.inner_text("#members-error")
    page.wait_for_function(f"document.querySelector('{row} select[name=role]').value === 'owner'")  # redrawn as it is
    assert page.errors == []


def test_a_project_admin_creates_opens_and_deletes_an_org(app, orgs, accounts) -> None:
    from gateway import firebase

    admin, lead = accounts["admin"], orgs["lead"]
    page = app.open(admin, "admin/orgs")
    page.wait_for_selector('#orgs-table tr[data-org="acme"]')
    page.fill("#org-create [name=id]", "initech")
    page.fill("#org-create [name=name]", "Initech")
    page.fill("#org-create [name=ownerEmail]", lead.email)
    page.click("#org-create button[type=submit]")
    page.wait_for_selector('#orgs-table tr[data-org="initech"]')
    page.wait_for_selector('#org-switch option[value="initech"]', state="attached")  # the switcher knows it at once
    assert firebase.db().document(f"orgs/initech/members/{lead.uid}").get().get("role") == "owner"

    page.locator('#orgs-table tr[data-org="initech"] button', has_text="Open").click()
    page.wait_for_selector("#org-form [name=name]")
    assert page.input_value("#org-switch") == "initech"
    assert page.evaluate("location.hash") == "#/org/settings"
    # Project admins set the budgets (org managers see them read-only).
    assert not page.locator('#org-form [name="settings.dailyCostUsd"]').evaluate("e => e.readOnly")

    page.goto(f"{app.url}/#/admin/orgs")
    page.wait_for_selector('#orgs-table tr[data-org="initech"]')
    answers = iter(["initec", "initech"])
    page.on("dialog", lambda dialog: dialog.accept(next(answers)))
    page.locator('#orgs-table tr[data-org="initech"] button', has_text="Delete").click()
    page.wait_for_selector("#orgs-error:not([hidden])")
    assert "Not deleted" in page.inner_text("#orgs-error")  # a typo deletes nothing
    assert firebase.db().document("orgs/initech").get().exists
    page.locator('#orgs-table tr[data-org="initech"] button', has_text="Delete").click()
    page.wait_for_selector('#orgs-table tr[data-org="initech"]', state="detached")
    assert not firebase.db().document("orgs/initech").get().exists
    page.wait_for_selector('#org-switch option[value="initech"]', state="detached")
    assert page.input_value("#org-switch") == ""
    assert page.errors == []


def test_org_manager_sees_the_caps_read_only_and_saves_quotas(app, orgs, emulators) -> None:
    from gateway import firebase

    two = orgs["two"]
    _api(emulators, two, "PUT", "/default", {"orgId": "globex"})
    page = app.open(two, "org/settings")
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_selector("#org-form [name=name]")
    page.wait_for_selector("#org-usage > *")
    assert page.locator('#org-form [name="settings.dailyCostUsd"]').evaluate("e => e.readOnly")
    assert "set by project admins" in page.inner_text("#org-form")
    page.fill('#org-form [name="settings.defaultQuotas.member.dailyTokens"]', "5000")
    page.click("#org-form button[type=submit]")
    page.wait_for_selector("#org-saved:has-text('Saved.')")
    assert firebase.db().document("orgs/globex").get().get("settings")["defaultQuotas"]["member"]["dailyTokens"] == 5000
    assert _overflow(page) <= 0
    assert _axe(page) == [] and _unlabelled(page) == []
    assert page.errors == []


def test_the_org_page_shows_what_the_organisation_spent_on_a_phone(app, orgs, emulators, accounts) -> None:
    """`GET /usage/org` drawn: the budget in words, the charts, and the tables by model and by member (by email)."""
    lead = orgs["lead"]
    _api(emulators, accounts["admin"], "PATCH", "/acme", {"settings": {"dailyCostUsd": 10.0, "sharedModels": ["openai-chat"]}})
    for _ in range(3):
        answer = requests.post(emulators.url("generate_text"), json={"modelId": "openai-chat", "prompt": "hi"},
                               headers={**lead.headers, "X-Org-Id": "acme"}, timeout=60)
        assert answer.status_code == 200, answer.text
    _api(emulators, lead, "PUT", "/default", {"orgId": "acme"})
    page = app.open(lead)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{app.url}/#/org/settings")
    page.wait_for_selector("#org-cost-chart")
    page.wait_for_selector("#org-by-member td")
    assert "Today: $" in page.inner_text("#org-usage") and "of $10.00" in page.inner_text("#org-usage")
    assert "This month:" in page.inner_text("#org-usage") and "(no cap)" in page.inner_text("#org-usage")
    assert page.inner_text("#org-usage-totals").startswith("3 requests, ")
    member_row = page.inner_text("#org-by-member tbody tr")
    assert lead.email in member_row and lead.uid not in member_row
    assert "openai-chat" in page.inner_text("#org-by-model")
    app.screenshot(page, "org-settings-usage-phone")
    assert _overflow(page) <= 0
    assert _axe(page) == [] and _unlabelled(page) == []
    assert page.errors == []


def test_the_switcher_works_from_the_keyboard(app, orgs) -> None:
    from test_browser_layout import _focus_ring, _tab_to

    two = orgs["two"]
    _conversations(two.uid)
    page = app.open(two)
    _listed(page, "c-none")
    page.focus("#skip")
    _tab_to(page, "#org-switch", presses=30)
    assert _focus_ring(page)["width"] >= 2
    page.keyboard.press("ArrowDown")  # a closed select takes the arrow keys: the next organisation, chosen at once
    _listed(page, "c-acme")
    assert page.input_value("#org-switch") == "acme"
    assert page.errors == []
