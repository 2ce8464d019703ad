"""Send to first text, as a person sees it: the demo web app in Chromium against the emulator stack.

    functions/venv/bin/python bench/web_chat.py [--runs 20]

Starts its own stack (free ports, seeded like ``make dev``: the demo provider
streams canned answers), signs in as user@demo.test and sends ``--runs``
messages in one conversation. Each time is measured inside the page, on one
clock (``performance.now()``): from the Send button's click event to the
first mutation that puts answer text in ``#chat-output`` (the typing
indicator does not count), and to the answer's ``done`` state. The network,
the gateway (auth, registry, budget reservation, the ledger's commit), the
SSE parse and the Markdown render are all inside it. The first Send is
reported apart: it also pays the functions emulator's worker start.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from screenshots import seeded_browser, sign_in  # noqa: E402

WATCH = """
() => new Promise((resolve) => {
  const send = document.querySelector('#chat-send');
  let t0 = 0, first = 0;
  const before = document.querySelectorAll('#chat-thread .msg').length;
  const seen = () => {
    const out = document.querySelector('#chat-output');
    if (!t0 || !out || document.querySelectorAll('#chat-thread .msg').length < before + 2) return;
    if (!first) {
      const text = [...out.childNodes].filter((n) => !(n instanceof Element && n.classList.contains('typing')))
        .map((n) => n.textContent).join('').trim();
      if (text) first = performance.now();
    }
    if (first && out.dataset.state === 'done') { observer.disconnect(); resolve({ first: first - t0, done: performance.now() - t0 }); }
  };
  const observer = new MutationObserver(seen);
  observer.observe(document.querySelector('#chat-thread'), { subtree: true, childList: true, characterData: true, attributes: true });
  send.addEventListener('click', () => { t0 = performance.now(); }, { once: true, capture: true });
  document.querySelector('#chat-prompt').value = 'Tell me something, please.';
  send.click();
})
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with seeded_browser() as (stack, browser):
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        sign_in(page, stack.web_url, "user@demo.test")
        results = []
        for _ in range(args.runs + 1):
            results.append(page.evaluate(WATCH))
            time.sleep(0.2)
    cold, warm = results[0], results[1:]
    firsts = sorted(r["first"] for r in warm)
    dones = sorted(r["done"] for r in warm)
    print(f"first Send (worker start included): first text {cold['first']:.0f} ms, done {cold['done']:.0f} ms")
    print(
        f"next {len(warm)} Sends: first text median {statistics.median(firsts):.0f} ms (min {firsts[0]:.0f}, max {firsts[-1]:.0f}); "
        f"done median {statistics.median(dones):.0f} ms"
    )


if __name__ == "__main__":
    main()
