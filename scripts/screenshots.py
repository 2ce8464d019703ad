"""The README's screenshots, taken from the real web app on a seeded emulator stack.

    functions/venv/bin/python scripts/screenshots.py

Starts its own stack (free ports, seeded like ``make dev``), builds nothing
(run ``cd web && npm run build`` first), chats with the demo provider as
user@demo.test so the thread, the sidebar and the Markdown answer have
something in them (and as alice@acme.test in organisation acme), and writes ``docs/screenshots/*.png`` at desktop
(1440×900) and phone (390×844) sizes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from stack import Stack, close_listeners, seed_demo  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
PROMPTS = ("What can I try here?", "And how do I call it from Python?")


def sign_in(page: Any, url: str, email: str) -> None:
    page.goto(url)
    page.fill("#email", email)
    page.fill("#password", "demo-password")
    page.press("#password", "Enter")
    page.wait_for_selector("#chat-prompt")
    page.wait_for_function("document.querySelector('#chat-model')?.value")


def chat(page: Any) -> None:
    for prompt in PROMPTS:
        page.fill("#chat-prompt", prompt)
        page.press("#chat-prompt", "Enter")
        page.wait_for_function(
            "(n) => document.querySelectorAll('#chat-thread .msg').length >= n && document.querySelector('#chat-output')?.dataset.state === 'done'",
            arg=2 * (PROMPTS.index(prompt) + 1),
            timeout=30_000,
        )


def shoot(page: Any, name: str, route: str | None = None, wait: str | None = None) -> None:
    if route is not None:
        page.evaluate("(r) => { location.hash = r; }", route)
    if wait:
        page.wait_for_selector(wait, timeout=20_000)
    page.wait_for_timeout(500)  # charts and fonts settle
    page.screenshot(path=str(OUT / f"{name}.png"))
    print(f"wrote docs/screenshots/{name}.png")


@contextmanager
def seeded_browser() -> Iterator[tuple[Stack, Any]]:
    """A stack on free ports seeded as ``make dev`` seeds it, and Chromium; both stopped on leaving."""
    from playwright.sync_api import sync_playwright

    stack = Stack(fresh_ports=True)
    stack.start()
    try:
        seed_demo(stack)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                yield stack, browser
            finally:
                browser.close()
    finally:
        close_listeners()
        stack.stop()


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with seeded_browser() as (stack, browser):
        desktop = browser.new_page(viewport=DESKTOP)
        sign_in(desktop, stack.web_url, "user@demo.test")
        chat(desktop)
        shoot(desktop, "chat-desktop")
        conversation = desktop.evaluate("location.hash")
        phone = browser.new_page(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
        sign_in(phone, stack.web_url + conversation, "user@demo.test")
        shoot(phone, "chat-phone", wait="#chat-thread .msg.assistant")
        shoot(desktop, "usage-desktop", "#/usage", wait="#usage-page canvas")
        admin = browser.new_page(viewport=DESKTOP)
        sign_in(admin, stack.web_url, "admin@demo.test")
        chat(admin)
        shoot(admin, "dashboard-desktop", "#/admin/dashboard", wait="#dashboard-tables table")
        shoot(admin, "models-desktop", "#/admin/models", wait="#models-page")
        owner = browser.new_page(viewport=DESKTOP)  # an organisation's owner, in it: its own model, its usage by member
        sign_in(owner, stack.web_url, "alice@acme.test")
        owner.select_option("#org-switch", "acme")
        owner.wait_for_function("document.querySelector('#chat-model')?.value === 'acme-chat'")
        chat(owner)
        shoot(owner, "org-desktop", "#/org/settings", wait="#org-by-member td")


if __name__ == "__main__":
    main()
