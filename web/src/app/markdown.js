// @ts-check
/**
 * Model output as Markdown: parsed by marked, then sanitised by DOMPurify before it touches the DOM.
 *
 * A model's answer is untrusted text (a prompt injection can make it write anything), so nothing it
 * writes may run: no scripts, no event handlers, no `javascript:` URLs. Images are dropped too: an
 * `<img>` the model writes loads by itself, and its URL can carry the conversation to a third party
 * (the "Markdown image exfiltration" trick). A link still needs the reader's click, and opens apart.
 */

import createDOMPurify from "dompurify";
import { Marked } from "marked";

const marked = new Marked({ gfm: true, async: false });
const purify = createDOMPurify(window);

/** Tags DOMPurify would keep that a chat answer has no business with. */
const FORBID_TAGS = ["img", "picture", "source", "video", "audio", "svg", "math", "style", "form", "input", "button", "textarea", "select", "iframe", "object", "embed"];

purify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});

/**
 * The sanitised HTML of a Markdown text.
 * @param {string} text
 * @returns {string}
 */
export function markdownToHtml(text) {
  const html = /** @type {string} */ (marked.parse(text));
  return purify.sanitize(html, { FORBID_TAGS, FORBID_ATTR: ["style"] });
}

/**
 * Render `text` into `target` (replacing what was there: called again with each streamed chunk),
 * with a copy button on every code block.
 * @param {HTMLElement} target
 * @param {string} text
 */
export function renderMarkdown(target, text) {
  target.innerHTML = markdownToHtml(text);
  for (const pre of target.querySelectorAll("pre")) addCopyButton(/** @type {HTMLElement} */ (pre));
}

/**
 * A "Copy" button at the top of a code block, copying its code's text.
 * @param {HTMLElement} pre
 */
export function addCopyButton(pre) {
  const code = pre.querySelector("code") ?? pre;
  const copy = document.createElement("button");
  copy.type = "button";
  copy.className = "copy-code";
  copy.textContent = "Copy";
  copy.setAttribute("aria-label", "Copy code");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(code.textContent ?? "");
      copy.textContent = "Copied";
    } catch {
      copy.textContent = "Copy failed";
    }
    setTimeout(() => (copy.textContent = "Copy"), 1500);
  });
  pre.prepend(copy);
}
