"""The chat page's conversation sidebar is live: a Firestore listener on the caller's own conversations.

Two tabs of one user see each other's new, renamed and deleted conversations without a reload; a
user never sees another's; a title is renamed from the keyboard, with the API's words on a refusal;
a listener that fails says so quietly and listens again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from test_browser import COLD_START

from conftest import PASSWORD, ROOT

CHAT = "openai-chat"
ITEM = '#chat-conversations li[data-conversation="{}"]'


@pytest.fixture
def app(providers, web) -> Any:
    return web


def _mine(uid: str) -> Any:
    from gateway import firebase

    return firebase.db().collection("users").document(uid).collection("conversations")


def _store(uid: str, conversation_id: str, title: str, minutes: int = 0) -> None:
    """A conversation as the gateway stores it (the Admin SDK: rules do not apply)."""
    at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    _mine(uid).document(conversation_id).set({"title": title, "modelId": CHAT, "createdAt": at, "updatedAt": at, "messageCount": 0})


def _titles(page: Any) -> list[str]:
    return page.eval_on_selector_all("#chat-conversations li button.open", "buttons => buttons.map(b => b.textContent)")


def _ask(page: Any, prompt: str) -> None:
    page.wait_for_function(f"[...document.querySelectorAll('#chat-model option')].some(o => o.value === {CHAT!r})")
    page.select_option("#chat-model", CHAT)
    page.fill("#chat-prompt", prompt)
    page.click("#chat-send")


def test_history_is_live_across_two_tabs(app, providers, accounts) -> None:
    """A conversation started, renamed and deleted in tab A shows in tab B's sidebar, with no reload of B."""
    providers["openai"].state.update(reply="an answer")
    a = app.open(accounts["user"])
    b = app.open(accounts["user"])
    b.wait_for_selector("#chat-conversations[data-loaded]", state="attached")
    b.evaluate("window.notReloaded = true")

    _ask(a, "first from tab A")
    a.wait_for_selector("#chat-output[data-state=done]", timeout=COLD_START)
    a.wait_for_function("/^#\\/chat\\/[A-Za-z0-9_-]+$/.test(location.hash)")
    conversation = a.evaluate("location.hash").rsplit("/", 1)[1]
    item = ITEM.format(conversation)
    b.wait_for_selector(f"{item} button.open")
    assert b.inner_text(f"{item} button.open") == "first from tab A"

    # Renamed in A (Enter saves): B's title follows.
    a.click(f"{item} button.rename")
    a.fill(f"#rename-{conversation}", "Renamed in A")
    a.press(f"#rename-{conversation}", "Enter")
    a.wait_for_function(f"document.querySelector('{item} button.open').textContent === 'Renamed in A'")
    b.wait_for_function(f"document.querySelector('{item} button.open')?.textContent === 'Renamed in A'")
    assert b.get_attribute(f"{item} button.rename", "aria-label") == "Rename “Renamed in A”"

    # Deleted in A: gone from B.
    a.click(f"{item} button.delete")
    a.wait_for_selector(item, state="detached")
    b.wait_for_selector(item, state="detached")
    assert not _mine(accounts["user"].uid).document(conversation).get().exists
    assert b.evaluate("window.notReloaded") is True
    assert a.errors == [] and b.errors == []


def test_sidebar_never_shows_another_users_conversations(app, accounts) -> None:
    """Only the caller's own conversations are listed, also as they arrive live."""
    _store(accounts["user"].uid, "mine-1", "mine, before")
    _store(accounts["admin"].uid, "theirs-1", "the admin's, before")
    page = app.open(accounts["user"])
    page.wait_for_selector("#chat-conversations[data-loaded]", state="attached")
    assert _titles(page) == ["mine, before"]
    # Written while the page listens: the other user's first, then one of the caller's, which must show.
    _store(accounts["admin"].uid, "theirs-2", "the admin's, later", minutes=5)
    _store(accounts["user"].uid, "mine-2", "mine, later", minutes=5)
    page.wait_for_selector(ITEM.format("mine-2"))
    assert _titles(page) == ["mine, later", "mine, before"]
    admin = app.open(accounts["admin"])
    admin.wait_for_selector("#chat-conversations[data-loaded]", state="attached")
    admin.wait_for_selector(ITEM.format("theirs-2"))
    assert _titles(admin) == ["the admin's, later", "the admin's, before"]
    assert page.errors == [] and admin.errors == []


def test_rename_from_the_keyboard_escape_cancels_and_errors_are_said(app, accounts) -> None:
    uid = accounts["user"].uid
    _store(uid, "trip", "Trip")
    page = app.open(accounts["user"])
    item = ITEM.format("trip")
    page.wait_for_selector(item)

    # Reached and opened from the keyboard; the input is labelled and holds the title.
    page.focus(f"{item} button.rename")
    page.keyboard.press("Enter")
    field = page.get_by_label("New title for “Trip”")
    assert field.evaluate("e => e === document.activeElement")
    assert field.input_value() == "Trip"
    # Escape cancels: nothing sent, the title stays, the focus goes back to the rename button.
    page.keyboard.type(" to Lisbon")
    page.keyboard.press("Escape")
    assert page.locator(f"{item} form").count() == 0
    assert page.inner_text(f"{item} button.open") == "Trip"
    assert page.evaluate(f"document.activeElement === document.querySelector('{item} button.rename')")
    assert _mine(uid).document("trip").get().get("title") == "Trip"

    # A title the API refuses: its words next to the input, which stays open and is marked invalid.
    page.keyboard.press("Enter")
    page.keyboard.press("Control+A")
    page.keyboard.type("   ")
    page.keyboard.press("Enter")
    problem = page.locator("#rename-error-trip")
    problem.wait_for(state="visible")
    assert "title" in problem.inner_text()
    assert page.get_attribute("#rename-trip", "aria-invalid") == "true"
    assert page.get_attribute("#rename-trip", "aria-describedby") == "rename-error-trip"

    # Then a good one: saved with Enter, shown, stored.
    page.fill("#rename-trip", "  Trip to Lisbon ")
    page.press("#rename-trip", "Enter")
    page.wait_for_selector(f"{item} form", state="detached")
    assert page.inner_text(f"{item} button.open") == "Trip to Lisbon"
    assert _mine(uid).document("trip").get().get("title") == "Trip to Lisbon"
    assert page.errors == []


def test_a_renamed_title_keeps_its_place_and_a_live_change_keeps_the_input(app, accounts) -> None:
    """A conversation arriving while a title is being edited does not close the editor or take its text."""
    uid = accounts["user"].uid
    _store(uid, "older", "Older", minutes=1)
    page = app.open(accounts["user"])
    page.wait_for_selector(ITEM.format("older"))
    page.click(f"{ITEM.format('older')} button.rename")
    page.fill("#rename-older", "Half typed")
    _store(uid, "newer", "Newer", minutes=2)
    page.wait_for_selector(ITEM.format("newer"))
    assert _titles(page) == ["Newer", "Older"]
    assert page.input_value("#rename-older") == "Half typed"
    assert page.evaluate("document.activeElement.id") == "rename-older"
    assert page.errors == []


def _rules(emulators: Any, content: str) -> None:
    """Load Firestore rules into the running emulator (as firebase-tools does when firestore.rules changes)."""
    import requests

    url = f"{emulators.firestore}/emulator/v1/projects/{emulators.project}:securityRules"
    response = requests.put(url, json={"rules": {"files": [{"name": "firestore.rules", "content": content}]}}, timeout=10)
    response.raise_for_status()


CLOSED = "rules_version = '2';\nservice cloud.firestore { match /databases/{db}/documents { match /{document=**} { allow read, write: if false; } } }"


def test_a_refused_listener_says_so_quietly_and_listens_again(app, accounts, emulators) -> None:
    """A listener the emulator refuses leaves the page working: a quiet line in the sidebar, then the list once it may read."""
    _store(accounts["user"].uid, "kept", "Kept")
    _rules(emulators, CLOSED)
    try:
        page = app.open(accounts["user"])
        page.wait_for_selector("#chat-list-status:not([hidden])")
        assert page.get_attribute("#chat-list-status", "data-code") == "permission-denied"
        assert "Conversation list not up to date" in page.inner_text("#chat-list-status")
        # The rest of the page works meanwhile: the models came through the gateway.
        page.wait_for_function(f"[...document.querySelectorAll('#chat-model option')].some(o => o.value === {CHAT!r})")
    finally:
        _rules(emulators, (ROOT / "firestore.rules").read_text())
    page.click("#chat-list-retry")
    page.wait_for_selector(ITEM.format("kept"))
    assert page.is_hidden("#chat-list-status")
    assert page.errors == []


def test_leaving_the_page_and_signing_out_stop_the_listener(app, accounts) -> None:
    """The sidebar listens while the chat page is shown, and stops when another page is, or the user signs out."""
    _store(accounts["user"].uid, "users-own", "The user's own")
    page = app.open(accounts["user"])
    page.wait_for_selector(ITEM.format("users-own"))
    assert page.evaluate("window.chatListeners") == 1
    page.click("nav#nav a[data-route=images]")
    page.wait_for_selector("#image-model", state="attached")
    assert page.evaluate("window.chatListeners") == 0
    page.click("nav#nav a[data-route=chat]")
    page.wait_for_selector(ITEM.format("users-own"))
    assert page.evaluate("window.chatListeners") == 1
    page.click("#signout")
    page.wait_for_selector("#signin")
    assert page.evaluate("window.chatListeners") == 0
    # The next user in this tab sees only their own list, from one listener.
    page.fill("#email", accounts["admin"].email)
    page.fill("#password", PASSWORD)
    page.click("#signin button[type=submit]")
    page.wait_for_selector("#chat-conversations[data-loaded]", state="attached")
    assert page.locator("#chat-conversations li").count() == 0
    assert page.evaluate("window.chatListeners") == 1
    assert page.errors == []


def test_delete_from_the_keyboard_keeps_the_focus_in_the_list(app, accounts) -> None:
    uid = accounts["user"].uid
    _store(uid, "first", "First", minutes=2)
    _store(uid, "second", "Second", minutes=1)
    page = app.open(accounts["user"])
    page.wait_for_selector(ITEM.format("second"))
    assert page.get_attribute(f"{ITEM.format('first')} button.delete", "aria-label") == "Delete “First”"
    page.focus(f"{ITEM.format('first')} button.delete")
    page.keyboard.press("Enter")
    page.wait_for_selector(ITEM.format("first"), state="detached")
    assert page.evaluate(f"document.activeElement === document.querySelector('{ITEM.format('second')} button.delete')")
    assert not _mine(uid).document("first").get().exists
    assert page.errors == []
