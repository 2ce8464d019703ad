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

/**
 * What a user should read for a failure: the gateway's own message, the wait on 429.
 * @param {unknown} err
 */
export function describe(err) {
  if (err instanceof GatewayError) {
    const wait = err.retryAfter !== null && err.retryAfter !== undefined ? ` Try again in ${Math.ceil(err.retryAfter)} s.` : "";
    return `${err.message}${wait}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/**
 * An alert box: `show(err)` fills it, `show(null)` empties it.
 * @param {string} id
 */
export function alertBox(id) {
  const box = h("p", { id, className: "alert", role: "alert", hidden: true });
  return {
    box,
    /** @param {unknown} err */
    show(err) {
      box.hidden = err === null;
      box.textContent = err === null ? "" : describe(err);
      if (err instanceof GatewayError) box.dataset.code = err.code;
      else delete box.dataset.code;
    },
  };
}

/** @param {number | null | undefined} usd */
export function money(usd) {
  return usd === null || usd === undefined ? "unknown" : `$${usd.toFixed(6)}`;
}
