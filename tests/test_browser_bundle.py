"""The web app's chunks in headless Chromium: the sign-in page and the chat load the first chunk only; the other
pages fetch theirs (uPlot's with the charts) on their first visit, say "Loading…" meanwhile, and offer a reload
when their chunk cannot be fetched (a deploy since the tab opened).

Prints what the sign-in page costs to load: the median of 5 cold loads.
"""

from __future__ import annotations

import re
import statistics
from typing import Any

from test_browser import CHAT, _ask

# Vite names a chunk after its first module: the charts (uPlot) are charts-<hash>.js, a page pages/x.js is x-<hash>.js.
CHARTS = re.compile(r"/assets/charts-[\w-]+\.js$")
HIGHLIGHT = re.compile(r"/assets/highlight-[\w-]+\.js$")
LAZY = re.compile(r"/assets/(charts|highlight|usage|images|admin_\w+|org_\w+)-[\w-]+\.js$")

# When #email shows, from the navigation's start (the page's own clock, not the test's round trips).
EMAIL_SHOWN = """
new MutationObserver((_, observer) => {
  const email = document.getElementById("email");
  if (email && !window.__emailShown) { window.__emailShown = performance.now(); observer.disconnect(); }
}).observe(document, { childList: true, subtree: true });
"""


def _scripts(page: Any) -> list[str]:
    """Every script the page has asked for so far (the <script> tag, module preloads and dynamic imports)."""
    return page.evaluate("performance.getEntriesByType('resource').filter(e => e.name.endsWith('.js')).map(e => new URL(e.name).pathname)")


def test_sign_in_page_loads_no_page_chunk(browser, stack, capsys) -> None:
    timings = []
    for _ in range(5):
        context = browser.new_context(viewport={"width": 1280, "height": 800})  # a cold cache each time
        try:
            page = context.new_page()
            page.add_init_script(EMAIL_SHOWN)
            page.goto(f"{stack.web_url}/")
            page.wait_for_selector("#email", state="visible")
            page.wait_for_load_state("load")
            timing = page.evaluate(
                """() => {
                  const nav = performance.getEntriesByType('navigation')[0];
                  const js = performance.getEntriesByType('resource').filter(e => e.name.endsWith('.js'));
                  return { dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd, email: window.__emailShown,
                           jsBytes: js.reduce((n, e) => n + e.decodedBodySize, 0) };
                }"""
            )
            timings.append(timing)
            assert not [name for name in _scripts(page) if LAZY.search(name)], _scripts(page)
        finally:
            context.close()
    median = {key: statistics.median(t[key] for t in timings) for key in timings[0]}
    with capsys.disabled():
        print(
            f"\n[bundle] sign-in page, median of 5 cold loads: #email shown {median['email']:.0f} ms, "
            f"DOMContentLoaded {median['dcl']:.0f} ms, load {median['load']:.0f} ms, {median['jsBytes'] / 1024:.0f} kB of JS"
        )


def test_chat_loads_without_the_charts_chunk_and_the_dashboard_fetches_it_on_first_visit(web, providers, accounts) -> None:
    page = web.open(accounts["admin"])
    _ask(page, CHAT, "hi")
    page.wait_for_selector("#chat-output[data-state=done]", timeout=20_000)
    assert not [name for name in _scripts(page) if CHARTS.search(name) or HIGHLIGHT.search(name)], _scripts(page)
    # highlight.js comes with the first code block that names a language, and colours it.
    providers["openai"].state.update(reply="Here:\n\n```python\nprint('hi')\n```")
    _ask(page, CHAT, "some code")
    page.wait_for_selector("#chat-output pre code .hljs-built_in", timeout=20_000)
    assert [name for name in _scripts(page) if HIGHLIGHT.search(name)]

    # The dashboard's chunk is held back a moment: the page says it is loading, then draws when it comes.
    held: list[Any] = []
    page.route(re.compile(r"/assets/admin_dashboard-[\w-]+\.js$"), lambda route: held.append(route))
    page.click('nav a[data-route="admin/dashboard"]')
    page.wait_for_selector("#page-loading")
    assert "Loading…" in page.inner_text("#page-loading")
    page.wait_for_function("true")  # let the route handler run
    assert len(held) == 1
    held[0].continue_()
    page.wait_for_selector("#dashboard-chart canvas", timeout=20_000)
    assert page.locator("#page-loading").count() == 0
    assert [name for name in _scripts(page) if CHARTS.search(name)]

    # Back to chat and to the dashboard again: drawn from the chunk already loaded, nothing fetched twice.
    page.click('nav a[data-route="chat"]')
    page.wait_for_selector("#chat-prompt")
    page.click('nav a[data-route="admin/dashboard"]')
    page.wait_for_selector("#dashboard-chart canvas", timeout=20_000)
    scripts = _scripts(page)
    assert len(scripts) == len(set(scripts)), scripts
    assert page.errors == []


def test_a_page_whose_chunk_is_gone_offers_a_reload(web, providers, accounts) -> None:
    """After a deploy, an open tab asks for chunk names that no longer exist: it says so, and Reload gets the app back."""
    page = web.open(accounts["admin"])
    page.wait_for_selector("#chat-prompt")
    gone = re.compile(r"/assets/admin_models-[\w-]+\.js$")
    page.route(gone, lambda route: route.fulfill(status=404, body="Not Found"))
    page.click('nav a[data-route="admin/models"]')
    page.wait_for_selector("#page-load-error")
    assert "could not be loaded" in page.inner_text("#page-load-error [role=alert]")
    assert page.is_visible("#page-reload")
    page.unroute(gone)
    page.click("#page-reload")
    page.wait_for_selector("#models-page", timeout=20_000)
    assert page.locator("#page-load-error").count() == 0
    assert page.errors == []
