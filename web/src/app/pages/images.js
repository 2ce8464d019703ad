// @ts-check
/**
 * Image generation, and the gallery read straight from Firestore (as the rules allow the owner).
 *
 * The gallery is read once per visit and after each generation rather than kept by a realtime
 * listener: the Firestore emulator fails commits while it tears down a listener whose browser
 * went away abruptly, which a closed tab does.
 */

import { collection, getDocs, limit, orderBy, query, where } from "firebase/firestore";

import { alertBox, fill, h, money } from "../dom.js";
import { loadModels } from "./chat.js";

/** The longest prompt the page sends (the gateway's image route refuses longer ones with a 400 anyway). */
const MAX_PROMPT = 2000;

/**
 * @param {{ url: string, path: string, width?: number, height?: number, prompt?: string }} image
 * @param {string} className
 */
function picture(image, className) {
  return h(
    "figure",
    { className },
    h("img", { src: image.url, alt: image.prompt ?? image.path, width: 160, height: 160, dataset: { path: image.path } }),
    image.prompt ? h("figcaption", {}, image.prompt) : null,
  );
}

/**
 * @param {import("../main.js").Context} ctx
 * @returns {HTMLElement}
 */
export function imagesPage(ctx) {
  const select = /** @type {HTMLSelectElement} */ (h("select", { id: "image-model", "aria-label": "Image model" }));
  const prompt = /** @type {HTMLInputElement} */ (h("input", { id: "image-prompt", placeholder: "a red fox in the snow", required: true, maxLength: MAX_PROMPT, "aria-label": "Image prompt" }));
  const go = /** @type {HTMLButtonElement} */ (h("button", { id: "image-generate", type: "submit" }, "Generate"));
  const results = h("div", { id: "image-results", className: "grid" });
  const meta = h("p", { id: "image-meta", className: "meta" });
  const error = alertBox("image-error");

  async function generate(/** @type {SubmitEvent} */ event) {
    event.preventDefault();
    go.disabled = true;
    error.show(null);
    meta.textContent = "Generating…";
    try {
      const answer = await ctx.gateway.generateImage({ modelId: select.value, prompt: prompt.value });
      fill(results, ...answer.images.map((image) => picture({ ...image, prompt: prompt.value }, "result")));
      meta.textContent = `${answer.images.length} image(s) · ${money(answer.cost?.total)} · ${answer.latencyMs} ms`;
      await showGallery();
    } catch (err) {
      meta.textContent = "";
      error.show(err);
    } finally {
      go.disabled = false;
    }
  }

  const gallery = h("div", { id: "gallery", className: "grid" });
  // The selected organisation's images only (records carry `org`); with none, those made in none.
  const org = /** @type {string | null | undefined} */ (/** @type {any} */ (ctx).org);
  const own = collection(ctx.db, "users", ctx.user.uid, "images");
  const images = org
    ? query(own, where("org", "==", org), orderBy("createdAt", "desc"), limit(24))
    : query(own, orderBy("createdAt", "desc"), limit(24));
  async function showGallery() {
    try {
      const snap = await getDocs(images);
      fill(gallery, ...snap.docs.filter((doc) => org || !doc.get("org")).map((doc) => picture(/** @type {any} */ (doc.data()), "gallery-item")));
    } catch (err) {
      error.show(err);
    }
  }
  showGallery();

  loadModels(ctx.gateway, select, (m) => m.type === "image", { admin: ctx.role === "admin" }).catch((err) => error.show(err));
  return h(
    "section",
    { id: "images-page" },
    h("h2", {}, "Images"),
    h("form", { onsubmit: generate }, h("label", { className: "field" }, "Model", select), h("label", { className: "field grow" }, "Prompt", prompt), go),
    error.box,
    meta,
    results,
    h("h3", {}, "Your gallery"),
    gallery,
  );
}
