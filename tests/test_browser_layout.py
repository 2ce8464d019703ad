"""Every page of the web app at a phone's, a tablet's and a desktop's size, as a user and as an admin: nothing wider than the
screen, tables folded to cards on a phone, Sign out within reach, axe-core's accessibility rules all passing,
and the pages usable from the keyboard alone.

Screenshots of every page at each size go to .stack/screenshots/layout/ (not committed), for a person to look at.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from conftest import PASSWORD, SCREENSHOTS

AXE = Path(__file__).resolve().parents[1] / "web" / "node_modules" / "axe-core" / "axe.min.js"
SIZES = {"phone": {"width": 390, "height": 844}, "tablet": {"width": 768, "height": 1024}, "desktop": {"width": 1440, "height": 900}}
CHAT = "openai-chat"

# Each page, and what shows once its data has arrived.
PAGES = {
    "chat": f"#chat-model option[value={CHAT!r}]",
    "images": "#image-model option[value='hf-image']",
    "usage": "#usage-tokens-chart canvas",
    "admin/dashboard": "#dashboard-chart canvas",
    "admin/models": "#models-table td",
    "admin/providers": "#providers-table td",
    "admin/health": "#health-status",
    "admin/audit": "#audit-table td",
    "admin/orgs": "#orgs-table td",
    # The organisation's pages, last: they need an organisation selected in the header (see _show).
    "org/members": "#members-table td",
    "org/settings": "#org-page:has(#org-form):has(#org-cost-chart)",
}
USER_PAGES = ["chat", "images", "usage"]
TABLES = {"usage": "#usage-records", "admin/dashboard": "#dashboard-models", "admin/models": "#models-table", "admin/providers": "#providers-table", "admin/health": "#health-body table",
          "admin/audit": "#audit-table", "admin/orgs": "#orgs-table", "org/members": "#members-table"}
ORG = "acme"


@pytest.fixture
def data(providers, accounts, emulators) -> None:
    """An image model, a usage record for each account, an audit entry, and an organisation (the admin its owner, the user
    a member, so both see the header's switcher): so every page has rows to lay out."""
    from gateway import firebase

    firebase.db().collection("models").document("hf-image").set(
        {"name": "flux", "provider": "huggingface", "type": "image", "enabled": True, "pricing": {"perImage": 0.002}, "config": {"width": 256, "height": 256}}
    )
    for role in ("user", "admin"):
        response = requests.post(emulators.url("generate_text"), json={"modelId": CHAT, "prompt": "hi"}, headers=accounts[role].headers, timeout=60)
        assert response.status_code == 200, response.text
    response = requests.patch(emulators.url("models", f"/{CHAT}"), json={"displayName": "OpenAI chat"}, headers=accounts["admin"].headers, timeout=60)
    assert response.status_code == 200, response.text
    response = requests.post(emulators.url("orgs"), json={"id": ORG, "name": "Acme", "ownerEmail": accounts["admin"].email}, headers=accounts["admin"].headers, timeout=60)
    assert response.status_code == 201, response.text
    response = requests.post(emulators.url("orgs", f"/{ORG}/members"), json={"email": accounts["user"].email, "role": "member"}, headers=accounts["admin"].headers, timeout=60)
    assert response.status_code == 201, response.text


def _open(web: Any, account: Any, size: str, route: str = "chat") -> Any:
    """A page at ``size``, signed in as ``account`` through the app's form."""
    context = web.browser.new_context(viewport=SIZES[size])
    web.contexts.append(context)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda err: page.errors.append(str(err)))
    page.goto(f"{web.url}/#/{route}")
    page.fill("#email", account.email)
    page.fill("#password", PASSWORD)
    page.click("#signin button[type=submit]")
    page.wait_for_selector("#user-email")
    return page


def _show(page: Any, web: Any, route: str) -> None:
    if route.startswith("org/") and page.input_value("#org-switch") != ORG:
        page.select_option("#org-switch", ORG)  # the organisation's pages are for the one selected
        page.wait_for_selector(f"#org[data-remembered={ORG}]", state="attached")
    page.goto(f"{web.url}/#/{route}")
    page.wait_for_selector(PAGES[route], state="attached", timeout=20_000)


def _overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than the screen (0: no horizontal scroll)."""
    return page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")


def _axe(page: Any) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now: rule, impact and the first few elements."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
    found = page.evaluate("async () => (await axe.run(document, { resultTypes: ['violations'] })).violations")
    return [{"rule": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"][:3]], "count": len(v["nodes"])} for v in found]


def _unlabelled(page: Any) -> list[str]:
    """Form controls named by nothing but a placeholder (or nothing): no <label>, no aria-label(ledby)."""
    return page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
             .filter(e => !e.labels?.length && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby'))
             .map(e => e.id || e.name || e.outerHTML.slice(0, 80))"""
    )


def _folded(page: Any, table: str) -> bool:
    """On a phone, each row of ``table`` is a card: its cells are stacked, one under the other, at one left edge."""
    boxes = page.eval_on_selector(
        table,
        """t => [...t.querySelectorAll('tr')].filter(r => r.querySelector('td')).slice(0, 2).map(r =>
             [...r.querySelectorAll('td')].filter(c => c.getBoundingClientRect().height > 0).map(c => {
               const b = c.getBoundingClientRect(); return [b.left, b.top]; }))""",
    )
    assert boxes, f"{table} has no rows"
    return all(len({round(x) for x, _ in row}) == 1 and len({round(y) for _, y in row}) == len(row) for row in boxes)


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("role", ["user", "admin"])
def test_every_page_fits_the_screen_and_passes_axe(web, data, accounts, role, size, capsys) -> None:
    """No page scrolls sideways; Sign out is on screen; tables are cards on a phone; axe-core finds nothing."""
    shots = SCREENSHOTS / "layout"
    shots.mkdir(parents=True, exist_ok=True)
    page = _open(web, accounts[role], size)
    width = SIZES[size]["width"]
    problems: dict[str, Any] = {}
    for route in PAGES if role == "admin" else USER_PAGES:
        _show(page, web, route)
        page.screenshot(path=str(shots / f"{role}-{route.replace('/', '-')}-{size}.png"), full_page=True)
        found: dict[str, Any] = {}
        if (extra := _overflow(page)) > 0:
            found["overflow px"] = extra
        signout = page.locator("#signout").bounding_box()
        if not signout or signout["x"] < 0 or signout["x"] + signout["width"] > width:
            found["sign out off screen"] = signout
        if size == "phone" and route in TABLES and not _folded(page, TABLES[route]):
            found["table not folded"] = TABLES[route]
        if violations := _axe(page):
            found["axe"] = violations
        if unlabelled := _unlabelled(page):
            found["no label"] = unlabelled
        if found:
            problems[route] = found
    with capsys.disabled():
        print(f"\n[layout] {role} {size}: " + (json.dumps(problems) if problems else "every page fits, axe: 0 violations"))
    assert problems == {}, json.dumps(problems, indent=1)
    assert page.errors == []


@pytest.mark.parametrize("size", list(SIZES))
def test_sign_in_page_fits_and_passes_axe(web, size) -> None:
    page = web.browser.new_context(viewport=SIZES[size]).new_page()
    web.contexts.append(page.context)
    page.goto(f"{web.url}/")
    page.wait_for_selector("#signin")
    page.screenshot(path=str(SCREENSHOTS / "layout" / f"signin-{size}.png"), full_page=True)
    assert _overflow(page) <= 0
    assert _axe(page) == []
    assert _unlabelled(page) == []


def _tab_to(page: Any, selector: str, presses: int = 60, key: str = "Tab") -> int:
    """Press Tab (or ``key``: Shift+Tab) until ``selector`` has the focus; how many presses it took."""
    for count in range(1, presses + 1):
        page.keyboard.press(key)
        if page.evaluate("s => document.activeElement?.matches(s) ?? false", selector):
            return count
    raise AssertionError(f"{selector} never got the focus from the keyboard")


def _focus_ring(page: Any) -> dict[str, Any]:
    return page.evaluate(
        """() => { const s = getComputedStyle(document.activeElement);
                   return { style: s.outlineStyle, width: parseFloat(s.outlineWidth), color: s.outlineColor }; }"""
    )


def test_keyboard_alone_signs_in_chats_and_reaches_every_admin_page(web, data, accounts) -> None:
    """A skip link first, a visible 2px focus ring on whatever has the focus, and every page reached with Tab and Enter."""
    page = web.browser.new_context(viewport=SIZES["desktop"]).new_page()
    web.contexts.append(page.context)
    page.errors = []
    page.on("pageerror", lambda err: page.errors.append(str(err)))
    page.goto(f"{web.url}/")
    page.wait_for_selector("#signin")
    # The first Tab offers to skip the header.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "skip"
    assert page.locator("#skip").is_visible()
    ring = _focus_ring(page)
    assert ring["style"] != "none" and ring["width"] >= 2, ring

    _tab_to(page, "#email")
    assert _focus_ring(page)["width"] >= 2
    page.keyboard.type(accounts["admin"].email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_selector("#user-email")
    page.wait_for_selector(PAGES["chat"], state="attached")

    # Skip link, on a fresh load: Enter moves the focus into the page, past the navigation.
    page.reload()
    page.wait_for_selector(PAGES["chat"], state="attached")
    page.focus("#skip")  # the chat page puts the focus in its composer on load; the skip link is still the first stop
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.tagName") == "MAIN"
    _tab_to(page, "#chat-model", presses=30)
    _tab_to(page, "#chat-prompt", presses=30)
    page.keyboard.type("hi")
    _tab_to(page, "#chat-send", presses=30)
    assert _focus_ring(page)["width"] >= 2
    page.keyboard.press("Enter")
    page.wait_for_selector("#chat-output[data-state=done]", timeout=20_000)
    assert _axe(page) == []  # the answer and its usage line too

    # Every admin page from the navigation (back up with Shift+Tab, then Enter), then on to its controls with Tab.
    for route, control in [("admin/models", "#models-table input[type=checkbox]"), ("admin/providers", "#providers-table button"), ("admin/health", "#health-page button"), ("admin/audit", "#audit-page button"), ("admin/dashboard", "#dashboard-window"), ("usage", "#usage-window"), ("usage", "#signout")]:
        _tab_to(page, f'nav a[data-route="{route}"]', presses=80, key="Shift+Tab")
        assert _focus_ring(page)["width"] >= 2
        page.keyboard.press("Enter")
        page.wait_for_selector(PAGES[route], state="attached", timeout=20_000)
        assert page.evaluate("location.hash") == f"#/{route}"
        _tab_to(page, control, presses=80)
        assert _focus_ring(page)["width"] >= 2, route
    page.keyboard.press("Enter")  # Sign out, from the keyboard
    page.wait_for_selector("#signin")
    assert page.errors == []


def test_admin_results_and_errors_fit_a_phone_and_pass_axe(web, data, accounts) -> None:
    """What the admin pages show after an action (a test result, discovered models, an error) fits and passes axe too."""
    page = _open(web, accounts["admin"], "phone", "admin/providers")
    page.wait_for_selector(PAGES["admin/providers"])
    row = page.locator('#providers-table tr[data-provider="openai"]')
    row.locator("button", has_text="Test").click()
    row.locator(".test-result[data-ok]").wait_for()  # the result, in the provider's own row
    row.locator("button", has_text="Discover").click()
    page.wait_for_selector("#discovered input")
    page.screenshot(path=str(SCREENSHOTS / "layout" / "admin-providers-discovered-phone.png"), full_page=True)
    assert _overflow(page) <= 0
    assert _axe(page) == []

    _show(page, web, "admin/models")
    page.wait_for_selector('#model-form select[name=provider] option[value="openai"]', state="attached")
    page.fill("#model-form [name=id]", "blank-name-model")
    page.fill("#model-form [name=name]", "   ")
    page.select_option("#model-form select[name=provider]", "openai")
    page.click("#model-form button[type=submit]")
    page.wait_for_selector('#model-form .field-error[data-field="name"]:not([hidden])')  # the API's words, next to the field
    page.screenshot(path=str(SCREENSHOTS / "layout" / "admin-models-error-phone.png"), full_page=True)
    assert _overflow(page) <= 0
    assert _axe(page) == []
    assert page.errors == []


def test_conversation_list_fits_a_phone(web, data, accounts) -> None:
    """A long conversation title is cut with an ellipsis inside the sidebar; its delete button stays on screen."""
    page = _open(web, accounts["user"], "phone")
    page.wait_for_selector(PAGES["chat"], state="attached")
    page.fill("#chat-prompt", "A question long enough that its conversation's title is far wider than a phone's screen")
    page.press("#chat-prompt", "Enter")
    page.wait_for_selector(".chat-sidebar li .delete", state="attached", timeout=20_000)
    page.click("#chat-sidebar-toggle")  # on a phone the list is folded behind its button
    page.wait_for_selector(".chat-sidebar li .delete")
    box = page.locator(".chat-sidebar li .delete").first.bounding_box()
    assert box is not None and box["x"] + box["width"] <= page.viewport_size["width"], box
    assert page.evaluate("document.querySelector('.chat-sidebar ul').scrollWidth <= document.querySelector('.chat-sidebar').clientWidth")
    assert _overflow(page) <= 0
    # Its rename control too, open with the API's refusal next to it: on screen, labelled, no axe violation.
    rename = page.locator(".chat-sidebar li .rename").first.bounding_box()
    assert rename is not None and rename["x"] + rename["width"] <= page.viewport_size["width"], rename
    page.locator(".chat-sidebar li .rename").first.click()
    page.fill(".chat-sidebar .rename-form input", " ")
    page.press(".chat-sidebar .rename-form input", "Enter")
    page.wait_for_selector(".chat-sidebar .rename-form .alert:not([hidden])")
    for control in (".rename-form input", ".rename-form button[type=submit]", ".rename-form .alert"):
        box = page.locator(f".chat-sidebar {control}").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= page.viewport_size["width"], (control, box)
    assert _overflow(page) <= 0
    assert _unlabelled(page) == []
    assert _axe(page) == []
    page.screenshot(path=str(SCREENSHOTS / "layout" / "user-chat-rename-phone.png"), full_page=True)


def test_chat_extras_fit_a_phone_and_pass_axe(web, data, accounts, providers) -> None:
    """The picker's health and capabilities, attached images, the options, a tool call and a JSON answer; and a viewer's chat."""
    import base64

    from gateway import firebase

    firebase.db().collection("models").document(CHAT).update({"capabilities": ["chat", "vision", "tools"]})
    providers["openai"].state["tool_call"] = {"name": "get_weather", "arguments": {"city": "Paris", "unit": "C"}}
    png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
    for _ in range(20):  # the functions' registry follows its Firestore listener
        page = _open(web, accounts["user"], "phone")
        page.wait_for_selector("#chat-model[data-health=loaded]")
        page.select_option("#chat-model", CHAT)
        if "Tools: yes" in page.inner_text("#chat-model-caps"):
            break
    page.set_input_files("#chat-attach", files=[{"name": "dot.png", "mimeType": "image/png", "buffer": png}])
    page.click("#chat-options summary")
    page.fill("#chat-tools", json.dumps([{"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]))
    page.screenshot(path=str(SCREENSHOTS / "layout" / "user-chat-composer-phone.png"), full_page=True)
    assert _overflow(page) <= 0
    assert _axe(page) == []
    assert _unlabelled(page) == []
    page.fill("#chat-prompt", "Weather in Paris?")
    page.click("#chat-send")
    page.wait_for_selector(".tool-call", timeout=20_000)
    page.wait_for_selector("#chat-send:not([disabled])")

    providers["openai"].state["json_reply"] = {"city": "Paris", "days": [{"day": 1, "plan": "A very long plan for the day " * 3}]}
    page.fill("#chat-tools", "")
    page.check("#chat-json")
    page.fill("#chat-prompt", "As JSON")
    page.click("#chat-send")
    page.wait_for_selector("#chat-output[data-format=json]", timeout=20_000)
    page.wait_for_selector("#chat-send:not([disabled])")
    page.screenshot(path=str(SCREENSHOTS / "layout" / "user-chat-answers-phone.png"), full_page=True)
    assert _overflow(page) <= 0
    assert _axe(page) == []
    assert page.errors == []

    viewer = _open(web, accounts["viewer"], "phone")
    viewer.wait_for_selector("#chat-readonly")
    viewer.wait_for_selector(PAGES["chat"], state="attached")
    viewer.screenshot(path=str(SCREENSHOTS / "layout" / "viewer-chat-phone.png"), full_page=True)
    assert _overflow(viewer) <= 0
    assert _axe(viewer) == []
    assert viewer.errors == []


def _composer_on_screen(page: Any) -> bool:
    """The composer (its message box and Send) lies wholly inside the window, above the fixed status bar."""
    return page.evaluate(
        """() => { const c = document.querySelector('#chat-composer').getBoundingClientRect();
                   const bar = document.querySelector('#status').getBoundingClientRect();
                   return c.top >= 0 && c.bottom <= bar.top + 1 && c.height > 0; }"""
    )


def test_chat_docks_its_composer_and_follows_the_answer_on_a_desktop(web, data, accounts, providers) -> None:
    """A thread taller than the window: the composer stays at the bottom of the window wherever the thread is scrolled,
    the newest answer is in view when it ends, the sidebar stays on screen, and the chat uses the wide window."""
    providers["openai"].state["reply"] = "A long answer line.\n\n" * 40
    page = _open(web, accounts["user"], "desktop")
    page.wait_for_selector(PAGES["chat"], state="attached")
    page.select_option("#chat-model", CHAT)
    for n in (1, 2):
        page.fill("#chat-prompt", f"Question {n}")
        page.press("#chat-prompt", "Enter")
        page.wait_for_function("n => document.querySelectorAll('#chat-thread .msg').length === 2 * n && document.querySelector('#chat-output')?.dataset.state === 'done'", arg=n, timeout=30_000)
    assert page.evaluate("document.scrollingElement.scrollHeight > 2 * innerHeight")  # the thread is long
    # Followed to the end: the last answer's end is in view, just above the composer.
    assert page.evaluate("document.querySelector('#chat-output').getBoundingClientRect().bottom <= document.querySelector('#chat-composer').getBoundingClientRect().top + 1")
    assert page.evaluate("document.scrollingElement.scrollHeight - (scrollY + innerHeight) <= 2")
    assert _composer_on_screen(page)
    # Scrolled back to the top to read: the composer and the conversation list are still on screen.
    page.evaluate("window.scrollTo(0, 0)")
    page.mouse.wheel(0, 400)
    page.wait_for_function("scrollY > 0")
    assert _composer_on_screen(page)
    item = page.locator(".chat-sidebar li .open").first.bounding_box()
    assert item is not None and 0 <= item["y"] < page.viewport_size["height"], item
    # A third answer, streamed slowly; the reader scrolls up (the wheel, as a person does) while it streams: the page
    # is not pulled down under them, whatever chunk is drawn meanwhile.
    providers["openai"].state["chunk_delay"] = 0.02
    page.fill("#chat-prompt", "Question 3")
    page.press("#chat-prompt", "Enter")
    page.wait_for_function("document.querySelectorAll('#chat-thread .msg').length === 6 && document.querySelector('#chat-output')?.innerText.includes('long answer')", timeout=30_000)
    page.mouse.move(700, 400)
    page.mouse.wheel(0, -100_000)
    page.wait_for_function("scrollY < 50")
    page.wait_for_function("document.querySelector('#chat-output')?.dataset.state === 'done'", timeout=30_000)
    assert page.evaluate("scrollY") < 50
    # The chat is not a narrow card on a wide window; the toggle is for phones only.
    assert page.evaluate("document.querySelector('#chat-page').getBoundingClientRect().width") > 1200
    assert not page.locator("#chat-sidebar-toggle").is_visible()
    assert page.locator("#chat-conversations").is_visible()
    assert _axe(page) == []
    assert page.errors == []


def test_chat_folds_its_conversation_list_on_a_phone(web, data, accounts) -> None:
    """On a phone the conversation list waits behind a "Conversations" button (keyboard usable, aria-expanded), closes
    when a conversation is opened, and the composer stays at the bottom of the screen."""
    page = _open(web, accounts["user"], "phone")
    page.wait_for_selector(PAGES["chat"], state="attached")
    page.fill("#chat-prompt", "Hello from a phone")
    page.press("#chat-prompt", "Enter")
    page.wait_for_selector("#chat-output[data-state=done]", timeout=20_000)
    page.wait_for_selector(".chat-sidebar li .open", state="attached", timeout=20_000)
    toggle = page.locator("#chat-sidebar-toggle")
    assert toggle.is_visible()
    assert toggle.get_attribute("aria-expanded") == "false"
    assert toggle.get_attribute("aria-controls") == page.eval_on_selector(".chat-sidebar", "n => n.id")
    assert not page.locator("#chat-conversations").is_visible()
    assert _composer_on_screen(page)
    assert _axe(page) == []
    # Opened from the keyboard; Escape folds it again, the focus back on the button.
    toggle.focus()
    page.keyboard.press("Enter")
    assert toggle.get_attribute("aria-expanded") == "true"
    page.wait_for_selector("#chat-conversations li .open")
    assert _axe(page) == []
    page.locator(".chat-sidebar li .rename").first.click()  # Escape in a rename cancels the rename only
    page.press(".chat-sidebar .rename-form input", "Escape")
    assert toggle.get_attribute("aria-expanded") == "true"
    page.focus("#chat-new")
    page.keyboard.press("Escape")
    assert toggle.get_attribute("aria-expanded") == "false"
    assert page.evaluate("document.activeElement.id") == "chat-sidebar-toggle"
    # Opening a conversation (and New chat) folds the list.
    toggle.click()
    page.locator(".chat-sidebar li .open").first.click()
    assert toggle.get_attribute("aria-expanded") == "false"
    assert not page.locator("#chat-conversations").is_visible()
    page.wait_for_selector("#chat-thread .msg.assistant")
    toggle.click()
    page.click("#chat-new")
    assert toggle.get_attribute("aria-expanded") == "false"
    assert _composer_on_screen(page)
    assert _overflow(page) <= 0
    assert page.errors == []
