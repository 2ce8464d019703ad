// @ts-check
/** Admin: the model registry (create, enable/disable, fallbacks, delete). */

import { alertBox, fill, h, money } from "../dom.js";

/** @param {import("../../gateway/types").Model} m */
function price(m) {
  if (!m.pricing) return "unknown";
  if (m.type === "image") return `${money(m.pricing.perImage)} per image`;
  if (m.type === "embedding") return `${money(m.pricing.inputPer1M)} per 1M tokens`;
  return `${money(m.pricing.inputPer1M)} / ${money(m.pricing.outputPer1M)} per 1M tokens`;
}

/**
 * @param {import("../main.js").Context} ctx
 * @returns {HTMLElement}
 */
export function modelsPage(ctx) {
  const table = h("table", { id: "models-table" });
  const error = alertBox("models-error");

  /** Run an admin call, report its failure, then redraw. @param {() => Promise<unknown>} call */
  async function act(call) {
    error.show(null);
    try {
      await call();
    } catch (err) {
      error.show(err);
    }
    await draw();
  }

  /** @param {import("../../gateway/types").Model} m */
  function row(m) {
    const enabled = /** @type {HTMLInputElement} */ (
      h("input", { type: "checkbox", checked: m.enabled, "aria-label": `enable ${m.id}`, onchange: () => act(() => ctx.gateway.models.update(m.id, { enabled: enabled.checked })) })
    );
    const fallbacks = /** @type {HTMLInputElement} */ (h("input", { value: (m.fallbacks ?? []).join(", "), "aria-label": `fallbacks of ${m.id}`, size: 16, placeholder: "model ids" }));
    const saveFallbacks = () =>
      act(() => ctx.gateway.models.update(m.id, { fallbacks: fallbacks.value.split(",").map((s) => s.trim()).filter(Boolean) }));
    return h(
      "tr",
      { dataset: { model: m.id } },
      h("td", {}, m.id),
      h("td", {}, m.provider),
      h("td", {}, m.type ?? "text"),
      h("td", {}, enabled),
      h("td", { className: "nowrap" }, fallbacks, h("button", { type: "button", onclick: saveFallbacks }, "Save")),
      h("td", {}, price(m)),
      h("td", {}, h("button", { type: "button", className: "danger", onclick: () => confirm(`Delete ${m.id}?`) && act(() => ctx.gateway.models.delete(m.id)) }, "Delete")),
    );
  }

  async function draw() {
    try {
      const { models } = await ctx.gateway.models.list({ limit: 100 });
      fill(
        table,
        h("tr", {}, ...["id", "provider", "type", "enabled", "fallbacks", "price in / out", "actions"].map((t) => h("th", {}, t))),
        ...models.map(row),
      );
    } catch (err) {
      error.show(err);
    }
  }

  const form = /** @type {HTMLFormElement} */ (
    h(
      "form",
      { id: "model-create", onsubmit: create },
      h("label", { className: "field" }, "Model id", h("input", { name: "id", placeholder: "my-model", required: true })),
      h("label", { className: "field" }, "Provider's model name", h("input", { name: "name", placeholder: "gpt-4o-mini", required: true })),
      h("label", { className: "field" }, "Provider id", h("input", { name: "provider", placeholder: "openai", required: true })),
      h("label", { className: "field" }, "Type", h("select", { name: "type" }, ...["text", "image", "multimodal", "embedding"].map((t) => h("option", { value: t }, t)))),
      h("button", { type: "submit" }, "Create"),
    )
  );
  /** @param {SubmitEvent} event */
  function create(event) {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    act(async () => {
      await ctx.gateway.models.create({ id: String(data.id), name: String(data.name), provider: String(data.provider), type: /** @type {any} */ (data.type), enabled: false });
      form.reset();
    });
  }

  draw();
  return h("section", { id: "models-page" }, h("h2", {}, "Models"), error.box, form, table);
}
