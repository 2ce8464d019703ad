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

/** highlight.js once its chunk (./highlight.js) has loaded. @type {import("highlight.js").HLJSApi | null} */
let hljs = null;
/** The chunk on its way. @type {Promise<void> | null} */
let loading = null;
/** Code blocks drawn before it arrived: coloured then, if still on the page (a streamed answer redraws its blocks). */
const waiting = new Set();

/**
 * Colour a code block whose fence names a language we know. highlight.js rebuilds the block from its
 * text (escaped), so what it writes is no more than the sanitised text already was; an unknown or
 * missing language stays plain rather than guessed (auto-detection is slow on every streamed chunk).
 * The first such block fetches highlight.js (~20 kB gzipped), the blocks stay plain until it comes.
 * @param {Element} code
 */
function highlight(code) {
  const language = [...code.classList].find((c) => c.startsWith("language-"))?.slice("language-".length);
  if (!language) return;
  if (hljs) {
    if (hljs.getLanguage(language)) hljs.highlightElement(/** @type {HTMLElement} */ (code));
    return;
  }
  waiting.add(code);
  loading ??= import("./highlight.js").then(
    (module) => {
      hljs = module.hljs;
      for (const block of waiting) if (block.isConnected) highlight(block);
      waiting.clear();
    },
    (err) => {
      // Plain code is still readable: say why in the console, and try again on the next block.
      console.error(err);
      loading = null;
      waiting.clear();
    },
  );
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
  highlight(code);
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
