// @ts-check
/**
 * The parts of an answer that are not prose: tool calls, JSON, and why the answer ended.
 *
 * A tool call is a function name and arguments the model wrote as JSON text: shown as a block with
 * the name and the arguments pretty-printed (or as sent, when they are not JSON). A JSON answer
 * (response format json) is one long line from the model: shown pretty-printed in a code block.
 * All of it goes in as text (textContent), never as HTML: it is model output.
 */

import { h } from "./dom.js";
import { addCopyButton, renderMarkdown } from "./markdown.js";

/** @typedef {{ id?: string | null, name?: string | null, arguments: string }} ToolCall */

/** Finish reasons (the gateway's normalised ones) in words: "stop" must not read like the Stop button. */
const FINISH_WORDS = /** @type {Record<string, string>} */ ({
  stop: "Finished",
  length: "Stopped: length limit reached",
  content_filter: "Filtered by the provider",
  tool_calls: "Tool call",
  cancelled: "Stopped by you",
});

/**
 * @param {string | null | undefined} reason  a finish reason, or "cancelled" for an answer the reader stopped
 * @returns {string}
 */
export function finishWords(reason) {
  if (reason === null || reason === undefined || reason === "") return "Ended (no reason given)";
  return FINISH_WORDS[reason] ?? `Ended: ${reason}`;
}

/**
 * `text` pretty-printed when it is a JSON object or array, else null.
 * @param {string} text
 * @returns {string | null}
 */
export function prettyJson(text) {
  const trimmed = text.trim();
  if (!/^[[{]/.test(trimmed)) return null;
  try {
    return JSON.stringify(JSON.parse(trimmed), null, 2);
  } catch {
    return null;
  }
}

/**
 * A code block holding `text` as text, with a copy button.
 * @param {string} text
 * @param {string} [language]
 */
export function codeBlock(text, language) {
  const pre = h("pre", {}, h("code", { className: language ? `language-${language}` : "" }, text));
  addCopyButton(pre);
  return pre;
}

/**
 * Draw an answer's text into `target`: a JSON answer (asked for, or an object or array throughout) as
 * a pretty-printed code block, anything else as Markdown. While a JSON answer streams it is not JSON
 * yet: shown as it comes, in the code block.
 * @param {HTMLElement} target
 * @param {string} text
 * @param {{ json?: boolean, final?: boolean }} [how]  `json`: the turn asked for JSON; `final`: the text is complete
 */
export function renderAnswer(target, text, how = {}) {
  const pretty = prettyJson(text);
  if (pretty !== null && (how.json || how.final !== false)) {
    target.replaceChildren(codeBlock(pretty, "json"));
    target.dataset.format = "json";
  } else if (how.json && text.trim()) {
    target.replaceChildren(codeBlock(text, "json"));
    target.dataset.format = "json";
  } else {
    renderMarkdown(target, text);
    delete target.dataset.format;
  }
}

/**
 * Tool calls as blocks: "Tool call: get_weather" and its arguments.
 * @param {ToolCall[]} calls
 * @returns {HTMLElement}
 */
export function toolCallsBlock(calls) {
  return h(
    "div",
    { className: "tool-calls" },
    ...calls.map((call) =>
      h(
        "section",
        { className: "tool-call", "aria-label": `Tool call ${call.name ?? ""}`.trim(), dataset: { name: call.name ?? "" } },
        h("p", { className: "tool-call-name" }, "Tool call: ", h("code", {}, call.name ?? "?")),
        codeBlock(prettyJson(call.arguments) ?? (call.arguments || "{}"), "json"),
      ),
    ),
  );
}

/**
 * Gathers streamed tool-call pieces (`{index, id?, name?, arguments}`) into whole calls.
 */
export class ToolCalls {
  constructor() {
    /** @type {ToolCall[]} */
    this.calls = [];
  }

  /** @param {{ index?: number | null, id?: string | null, name?: string | null, arguments?: string | null }} piece */
  add(piece) {
    const at = piece.index ?? 0;
    const call = (this.calls[at] ??= { id: null, name: null, arguments: "" });
    if (piece.id) call.id = piece.id;
    if (piece.name) call.name = piece.name;
    call.arguments += piece.arguments ?? "";
  }

  /** The calls so far, in order (a missing index is skipped). */
  get list() {
    return this.calls.filter(Boolean);
  }
}
