// @ts-check
/** Chat: pick a model, stream its answer, stop it. */

import { alertBox, fill, h, money } from "../dom.js";

/**
 * Fill a <select> with the models the caller may use, of the given kinds.
 * @param {import("../../gateway/index.js").Gateway} gateway
 * @param {HTMLSelectElement} select
 * @param {(model: import("../../gateway/types").Model) => boolean} keep
 */
export async function loadModels(gateway, select, keep) {
  const { models } = await gateway.listModels({ limit: 100 });
  const usable = models.filter(keep);
  fill(select, ...usable.map((m) => h("option", { value: m.id }, m.displayName || m.id)));
  select.disabled = usable.length === 0;
  return usable;
}

/**
 * @param {import("../main.js").Context} ctx
 * @returns {HTMLElement}
 */
export function chatPage(ctx) {
  const select = /** @type {HTMLSelectElement} */ (h("select", { id: "chat-model", "aria-label": "Model" }));
  const prompt = /** @type {HTMLTextAreaElement} */ (h("textarea", { id: "chat-prompt", rows: 3, placeholder: "Ask something", "aria-label": "Message" }));
  const send = /** @type {HTMLButtonElement} */ (h("button", { id: "chat-send", type: "submit" }, "Send"));
  const stop = /** @type {HTMLButtonElement} */ (h("button", { id: "chat-stop", type: "button", disabled: true }, "Stop"));
  const output = h("div", { id: "chat-output", className: "answer", "aria-live": "polite" });
  const meta = h("p", { id: "chat-meta", className: "meta" });
  const error = alertBox("chat-error");
  /** @type {AbortController | null} */
  let running = null;

  // The browser tests read these: when each piece of text reached the page.
  const timings = /** @type {Array<{ at: number, chars: number }>} */ ([]);
  /** @type {any} */ (window).chatTimings = timings;

  async function ask(/** @type {SubmitEvent} */ event) {
    event.preventDefault();
    if (running || !prompt.value.trim()) return;
    running = new AbortController();
    send.disabled = true;
    stop.disabled = false;
    error.show(null);
    output.textContent = "";
    meta.textContent = "";
    timings.length = 0;
    output.dataset.state = "streaming";
    try {
      for await (const item of ctx.gateway.streamText({ modelId: select.value, prompt: prompt.value }, { signal: running.signal })) {
        if (item.type === "delta") {
          output.append(item.text);
          timings.push({ at: performance.now(), chars: item.text.length });
        } else if (item.type === "done") {
          const tokens = item.usage.totalTokens ?? "?";
          meta.textContent = `${item.modelId} · ${item.finishReason ?? "?"} · ${tokens} tokens · ${money(item.cost?.total)} · ${item.latencyMs} ms`;
        }
      }
      output.dataset.state = "done";
    } catch (err) {
      output.dataset.state = running.signal.aborted ? "stopped" : "failed";
      if (!running.signal.aborted) error.show(err);
      else meta.textContent = "Stopped.";
    } finally {
      running = null;
      send.disabled = false;
      stop.disabled = true;
    }
  }

  stop.addEventListener("click", () => running?.abort());
  loadModels(ctx.gateway, select, (m) => m.type !== "image" && m.type !== "embedding").catch((err) => error.show(err));

  return h(
    "section",
    { id: "chat-page" },
    h("h2", {}, "Chat"),
    h("form", { onsubmit: ask }, h("label", {}, "Model ", select), prompt, h("div", { className: "row" }, send, stop)),
    error.box,
    output,
    meta,
  );
}
