// @ts-check
/**
 * Keep a page's figures fresh: run a task now, again every so often while the page is shown and the tab
 * visible, and on demand; never two at once; and say how old the last answer is ("checked 12 s ago").
 *
 * Pages have no unmount hook: the timers stop by themselves once `node` has left the document.
 */

import { h } from "./dom.js";

/** How often admin pages re-check provider health (the gateway caches its probes for 30 s too). */
export const HEALTH_SECONDS = 30;

/**
 * @param {HTMLElement} node  the page; once it was shown and is gone, everything stops
 * @param {number} seconds  between the end of one run and the start of the next
 * @param {() => Promise<void>} task  throws to report a failure (the age then stays that of the last success)
 * @param {(err: unknown) => void} onError
 * @param {string} [buttonText]  the on-demand button's words
 */
export function keepFresh(node, seconds, task, onError, buttonText = "Refresh now") {
  const label = h("span", { className: "checked meta" }, "checking…");
  /** @type {Promise<void> | null} */
  let running = null;
  /** @type {number | null} */
  let lastAt = null;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  let seen = false;

  const gone = () => {
    seen ||= node.isConnected;
    return seen && !node.isConnected;
  };

  function stop() {
    clearTimeout(timer);
    clearInterval(ticker);
    document.removeEventListener("visibilitychange", onVisibility);
  }

  function schedule() {
    clearTimeout(timer);
    if (gone()) return stop();
    if (!document.hidden) timer = setTimeout(now, seconds * 1000);
  }

  /** Run the task now, or join the run under way. */
  function now() {
    if (running) return running;
    clearTimeout(timer);
    running = (async () => {
      try {
        await task();
        lastAt = Date.now();
        onError(null);
      } catch (err) {
        onError(err);
      } finally {
        running = null;
        tick();
        schedule();
      }
    })();
    return running;
  }

  function tick() {
    if (gone()) return stop();
    if (lastAt !== null) label.textContent = `checked ${Math.max(0, Math.round((Date.now() - lastAt) / 1000))} s ago`;
    label.dataset.age = lastAt === null ? "" : String(Math.round((Date.now() - lastAt) / 1000));
  }

  function onVisibility() {
    if (document.hidden) clearTimeout(timer); // no calls for a tab nobody looks at
    else if (lastAt === null || Date.now() - lastAt >= seconds * 1000) now();
    else schedule();
  }

  const ticker = setInterval(tick, 1000);
  document.addEventListener("visibilitychange", onVisibility);
  now();
  return { label, now, button: h("button", { type: "button", onclick: () => now() }, buttonText) };
}
