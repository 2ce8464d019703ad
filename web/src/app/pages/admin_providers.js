// @ts-check
/** Admin: providers (create with a key that is never shown again, test, discover and import). */

import { alertBox, fill, h } from "../dom.js";

const TYPES = ["openai-compatible", "openai", "lmstudio", "openrouter", "ollama", "huggingface", "anthropic", "gemini"];

/**
 * @param {import("../main.js").Context} ctx
 * @returns {HTMLElement}
 */
export function providersPage(ctx) {
  const table = h("table", { id: "providers-table" });
  const report = h("div", { id: "provider-report", "aria-live": "polite" });
  const error = alertBox("providers-error");

  /** @param {() => Promise<unknown>} call */
  async function act(call) {
    error.show(null);
    try {
      await call();
    } catch (err) {
      error.show(err);
    }
    await draw();
  }

  /** @param {string} id */
  async function test(id) {
    fill(report, `Testing ${id}…`);
    try {
      const r = /** @type {any} */ (await ctx.gateway.providers.test(id));
      fill(report, h("p", { id: "provider-test-result" }, `${id}: ${r.status}, ${r.latencyMs} ms, ${r.modelCount ?? "?"} models${r.error ? ` (${r.error})` : ""}`));
    } catch (err) {
      fill(report);
      error.show(err);
    }
  }

  /** @param {string} id */
  async function discover(id) {
    fill(report, `Listing ${id}'s models…`);
    try {
      const { models } = /** @type {any} */ (await ctx.gateway.providers.discover(id, { refresh: true }));
      const boxes = models.map((/** @type {any} */ m) => h("label", {}, h("input", { type: "checkbox", value: m.name }), ` ${m.name}`));
      const importThem = () => {
        /** @type {string[]} */
        const names = boxes.map((/** @type {HTMLElement} */ b) => b.querySelector("input")).filter((/** @type {HTMLInputElement} */ i) => i.checked).map((/** @type {HTMLInputElement} */ i) => i.value);
        if (!names.length) return;
        act(async () => {
          const done = /** @type {{ created: string[], updated: string[] }} */ (await ctx.gateway.providers.import(id, names.map((name) => ({ name }))));
          const parts = [done.created.length ? `created ${done.created.join(", ")}` : "", done.updated.length ? `updated ${done.updated.join(", ")}` : ""];
          fill(report, h("p", { id: "import-result" }, `Imported (disabled until enabled on Models): ${parts.filter(Boolean).join("; ")}`));
        });
      };
      fill(report, h("div", { id: "discovered" }, ...boxes), h("button", { type: "button", onclick: importThem }, "Import selected (disabled)"));
    } catch (err) {
      fill(report);
      error.show(err);
    }
  }

  async function draw() {
    try {
      const { providers } = /** @type {any} */ (await ctx.gateway.providers.list());
      fill(
        table,
        h("tr", {}, ...["id", "type", "base URL", "enabled", "key", "health", "actions"].map((t) => h("th", {}, t))),
        ...providers.map((/** @type {import("../../gateway/types").Provider} */ p) => {
          const enabled = /** @type {HTMLInputElement} */ (
            h("input", { type: "checkbox", checked: p.enabled, "aria-label": `enable ${p.id}`, onchange: () => act(() => ctx.gateway.providers.update(p.id, { enabled: enabled.checked })) })
          );
          return h(
            "tr",
            { dataset: { provider: p.id } },
            h("td", {}, p.id),
            h("td", {}, p.type),
            h("td", {}, p.baseUrl),
            h("td", {}, enabled),
            h("td", { title: p.secretName ?? "" }, p.hasKey ? "stored" : "none"),
            h("td", {}, p.healthStatus ?? "unknown"),
            h("td", {}, h("button", { type: "button", onclick: () => test(p.id) }, "Test"), h("button", { type: "button", onclick: () => discover(p.id) }, "Discover")),
          );
        }),
      );
    } catch (err) {
      error.show(err);
    }
  }

  const form = /** @type {HTMLFormElement} */ (
    h(
      "form",
      { id: "provider-create", onsubmit: create, autocomplete: "off" },
      h("label", { className: "field" }, "Provider id", h("input", { name: "id", placeholder: "my-provider", required: true })),
      h("label", { className: "field" }, "Type", h("select", { name: "type" }, ...TYPES.map((t) => h("option", { value: t }, t)))),
      h("label", { className: "field" }, "Base URL", h("input", { name: "baseUrl", placeholder: "https://api.example.com/v1", required: true })),
      h("label", { className: "field" }, "API key (stored in Secret Manager, never shown again)", h("input", { name: "apiKey", type: "password" })),
      h("button", { type: "submit" }, "Create"),
    )
  );
  /** @param {SubmitEvent} event */
  function create(event) {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    form.reset(); // the key leaves the page now, whatever the answer
    act(() =>
      ctx.gateway.providers.create({
        id: String(data.id),
        type: /** @type {any} */ (data.type),
        baseUrl: String(data.baseUrl),
        enabled: false,
        ...(data.apiKey ? { apiKey: String(data.apiKey) } : {}),
      }),
    );
  }

  draw();
  return h("section", { id: "providers-page" }, h("h2", {}, "Providers"), error.box, form, table, report);
}
