// @ts-check
/** Tiny DOM helpers: the demo app has no framework. */

import { GatewayError } from "../gateway/index.js";

/**
 * Create an element: `h("button", { id: "send", onclick }, "Send")`.
 * @param {string} tag
 * @param {Record<string, any>} [props]  attributes; `on*` functions become listeners; `dataset`/`style` objects
 * @param {...(Node | string | number | null | undefined | false)} children
 * @returns {HTMLElement}
 */
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node && key !== "list") /** @type {any} */ (node)[key] = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "object" ? child : String(child));
  }
  return node;
}

/**
 * Replace a node's children.
 * @param {Element} node
 * @param {...(Node | string)} children
 */
export function fill(node, ...children) {
  node.replaceChildren(...children);
  return node;
}

/** A wait the gateway already wrote into its message ("...; try again in 12 s"): the page says it once, counting down. */
const WAIT_IN_MESSAGE = /[;,.]?\s*try again in \d+(?:\.\d+)? s\.?$/i;

/** @param {number} seconds */
function waitText(seconds) {
  return seconds > 0 ? ` Try again in ${seconds} s.` : " You can try again now.";
}

/**
 * What a user should read for a failure: the gateway's own message, the wait on 429 (once).
 * @param {unknown} err
 * @param {number | null} [secondsLeft]  the wait still to go (default: the whole `Retry-After`)
 */
export function describe(err, secondsLeft) {
  if (err instanceof GatewayError) {
    const hasWait = err.retryAfter !== null && err.retryAfter !== undefined;
    if (!hasWait) return err.message;
    const base = err.message.replace(WAIT_IN_MESSAGE, "");
    const left = secondsLeft ?? Math.ceil(/** @type {number} */ (err.retryAfter));
    return `${base}${/[.!?]$/.test(base) ? "" : "."}${waitText(left)}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/**
 * An alert box: `show(err)` fills it, `show(null)` empties it. A wait (429, 503) counts down live.
 * @param {string} id
 */
export function alertBox(id) {
  const box = h("p", { id, className: "alert", role: "alert", hidden: true });
  /** @type {ReturnType<typeof setInterval> | undefined} */
  let timer;
  return {
    box,
    /** @param {unknown} err */
    show(err) {
      clearInterval(timer);
      box.hidden = err === null;
      box.textContent = err === null ? "" : describe(err);
      if (err instanceof GatewayError) box.dataset.code = err.code;
      else delete box.dataset.code;
      if (err instanceof GatewayError && err.retryAfter !== null && err.retryAfter !== undefined) {
        const until = Date.now() + err.retryAfter * 1000;
        timer = setInterval(() => {
          const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
          box.textContent = describe(err, left);
          if (left === 0) clearInterval(timer);
        }, 1000);
      }
    },
  };
}

/**
 * Dollars as people read them: cents above a dollar, two significant digits below ($0.0012, not $0.000000).
 * @param {number | null | undefined} usd
 */
export function money(usd) {
  if (usd === null || usd === undefined) return "unknown";
  const size = Math.abs(usd);
  if (size === 0) return "$0.00";
  if (size >= 1) return `$${usd.toFixed(2)}`;
  if (size < 0.000001) return "<$0.000001";
  const decimals = Math.max(2, 1 - Math.floor(Math.log10(size)));
  return `$${usd.toFixed(decimals).replace(/(\.\d\d\d*?)0+$/, "$1")}`;
}

/**
 * A time as people read it, to the second in the browser's zone: "2026-11-30 21:05:07" (an ISO string may carry microseconds).
 * @param {string | number | Date | null | undefined} when
 */
export function when(when) {
  if (when === null || when === undefined || when === "") return "–";
  const t = new Date(when);
  if (Number.isNaN(t.getTime())) return String(when);
  const p = (/** @type {number} */ n) => String(n).padStart(2, "0");
  return `${t.getFullYear()}-${p(t.getMonth() + 1)}-${p(t.getDate())} ${p(t.getHours())}:${p(t.getMinutes())}:${p(t.getSeconds())}`;
}

/**
 * Show a validation error's messages next to the fields it names (inputs named like the API's fields, e.g. `config.maxTokens`).
 * Returns whether any field was marked; the caller shows the error in its alert box otherwise.
 * @param {HTMLFormElement} form
 * @param {unknown} err  null clears the marks
 */
export function markFields(form, err) {
  for (const note of form.querySelectorAll(".field-error")) {
    note.textContent = "";
    /** @type {HTMLElement} */ (note).hidden = true;
  }
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  if (!(err instanceof GatewayError)) return false;
  const fields = /** @type {{ field: string, message: string }[]} */ (Array.isArray(err.details?.fields) ? err.details.fields : []);
  let marked = false;
  for (const { field, message } of fields) {
    const parts = String(field).split(".");
    /** @type {HTMLElement | null} */
    let note = null;
    for (let n = parts.length; n > 0 && !note; n--) note = form.querySelector(`.field-error[data-field="${CSS.escape(parts.slice(0, n).join("."))}"]`);
    if (!note) continue;
    note.textContent = message;
    note.hidden = false;
    form.querySelector(`[name="${CSS.escape(note.dataset.field ?? "")}"]`)?.setAttribute("aria-invalid", "true");
    marked = true;
  }
  return marked;
}

/**
 * A labelled form field with a place for the API's message about it: `<label>Name <input name=...></label><span class=field-error>`.
 * @param {string} label
 * @param {HTMLElement} input  its `name` is the API's field path
 */
export function field(label, input) {
  const name = input.getAttribute("name") ?? "";
  const noteId = `${name.replace(/[^a-zA-Z0-9]/g, "-")}-error-${Math.random().toString(36).slice(2, 8)}`;
  input.setAttribute("aria-describedby", noteId);
  return h(
    "div",
    { className: "field" },
    h("label", {}, `${label} `, input),
    h("span", { id: noteId, className: "field-error", dataset: { field: name }, hidden: true, "aria-live": "polite" }),
  );
}
