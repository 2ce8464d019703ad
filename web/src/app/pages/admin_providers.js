// @ts-check
/** Admin: providers (create with a key that is never shown again, set or rotate the key, test, discover and import, delete). */

import { GatewayError } from "../../gateway/index.js";
import { alertBox, field, fill, h, markFields, when } from "../dom.js";
import { HEALTH_SECONDS, keepFresh } from "../refresh.js";

const TYPES = ["openai-compatible", "openai", "lmstudio", "openrouter", "ollama", "huggingface", "anthropic", "gemini"];

/**
 * @param {import("../main.js").Context} ctx
 * @returns {HTMLElement}
 */
export function providersPage(ctx) {
  const table = h("table", { id: "providers-table" });
  const report = h("div", { id: "provider-report", "aria-live": "polite" });
  const error = alertBox("providers-error");
  /** @type {Map<string, { text: string, ok: boolean | null }>} the last test of each provider, shown in its row */
  const tested = new Map();
  /** @type {Record<string, { status: string, error?: string, latencyMs?: number | null }>} the last health report's providers */
  let live = {};

  /** A provider's health: the live report for an enabled one, else what its document last recorded. @param {import("../../gateway/types").Provider} p */
  function healthText(p) {
    const now = live[p.id];
    if (now) return `${now.status}${now.error ? ` (${now.error})` : now.latencyMs !== null && now.latencyMs !== undefined ? `, ${now.latencyMs} ms` : ""}`;
    return p.enabled ? (p.healthStatus ?? "unknown") : `${p.healthStatus ?? "unknown"} (disabled: not probed)`;
  }

  /** Re-read health and update only the health cells: the rows keep what the admin is typing (a key, a test result). */
  async function checkHealth() {
    const report = /** @type {any} */ (await ctx.gateway.health());
    live = report.providers ?? {};
    for (const cell of table.querySelectorAll("td.health")) {
      const row = /** @type {HTMLElement} */ (cell.closest("tr"));
      const p = shown.get(row.dataset.provider ?? "");
      if (p) cell.textContent = healthText(p);
    }
  }
  /** @type {Map<string, import("../../gateway/types").Provider>} the providers in the table */
  const shown = new Map();

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
    tested.set(id, { text: "testing…", ok: null });
    await draw();
    try {
      const r = /** @type {any} */ (await ctx.gateway.providers.test(id));
      tested.set(id, { text: `${r.status}, ${r.latencyMs} ms, ${r.modelCount ?? "?"} models${r.error ? ` (${r.error})` : ""}`, ok: r.status === "healthy" });
    } catch (err) {
      tested.delete(id);
      error.show(err);
    }
    await draw();
  }

  /** Store a new key for a provider (a new secret version); the input is emptied whatever the answer. @param {string} id @param {HTMLInputElement} key */
  function setKey(id, key) {
    const value = key.value;
    key.value = "";
    if (value) act(() => ctx.gateway.providers.update(id, { apiKey: value }));
  }

  /** Delete; while enabled models use it the API says so (409) and the admin may disable them first. @param {string} id */
  async function remove(id) {
    if (!confirm(`Delete provider ${id}?`)) return;
    error.show(null);
    try {
      await ctx.gateway.providers.delete(id);
    } catch (err) {
      if (err instanceof GatewayError && err.code === "CONFLICT" && confirm(`${err.message}.\n\nDisable those models and delete ${id}?`)) {
        await act(() => ctx.gateway.providers.delete(id, { cascade: true }));
        return;
      }
      error.show(err);
    }
    await draw();
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
      shown.clear();
      for (const p of providers) shown.set(p.id, p);
      fill(
        table,
        h("tr", {}, ...["id", "type", "base URL", "enabled", "key", "health", "last test", "actions"].map((t) => h("th", {}, t))),
        ...providers.map((/** @type {import("../../gateway/types").Provider} */ p) => {
          const enabled = /** @type {HTMLInputElement} */ (
            h("input", { type: "checkbox", checked: p.enabled, "aria-label": `enable ${p.id}`, onchange: () => act(() => ctx.gateway.providers.update(p.id, { enabled: enabled.checked })) })
          );
          const key = /** @type {HTMLInputElement} */ (h("input", { type: "password", autocomplete: "new-password", "aria-label": `new key for ${p.id}`, placeholder: "new key" }));
          const keyForm = h(
            "details",
            { className: "set-key" },
            h("summary", {}, p.hasKey ? "Rotate key" : "Set key"),
            h("form", { onsubmit: (/** @type {SubmitEvent} */ e) => (e.preventDefault(), setKey(p.id, key)) }, key, h("button", { type: "submit" }, "Save key")),
          );
          const result = tested.get(p.id);
          return h(
            "tr",
            { dataset: { provider: p.id } },
            h("td", {}, p.id),
            h("td", {}, p.type),
            h("td", {}, p.baseUrl),
            h("td", {}, enabled),
            h("td", { title: p.secretName ?? "" }, h("span", { className: "key-state" }, p.hasKey ? "stored" : "none"), keyForm),
            h("td", { className: "health", title: p.lastHealthCheck ? `last recorded ${when(p.lastHealthCheck)}` : "" }, healthText(p)),
            h(
              "td",
              { className: "test-result", "aria-live": "polite", dataset: result && result.ok !== null ? { ok: String(result.ok) } : {} },
              result ? result.text : "",
            ),
            h(
              "td",
              { className: "nowrap" },
              h("button", { type: "button", onclick: () => test(p.id) }, "Test"),
              h("button", { type: "button", onclick: () => discover(p.id) }, "Discover"),
              h("button", { type: "button", className: "danger", onclick: () => remove(p.id) }, "Delete"),
            ),
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
      h("h3", {}, "New provider"),
      field("id", h("input", { name: "id", placeholder: "my-provider", required: true })),
      field("type", h("select", { name: "type" }, ...TYPES.map((t) => h("option", { value: t }, t)))),
      field("base URL", h("input", { name: "baseUrl", placeholder: "https://api.example.com/v1", required: true })),
      field("API key", h("input", { name: "apiKey", type: "password", autocomplete: "new-password", placeholder: "stored in Secret Manager, never shown again" })),
      h("button", { type: "submit" }, "Create"),
    )
  );
  /** @param {SubmitEvent} event */
  async function create(event) {
    event.preventDefault();
    error.show(null);
    markFields(form, null);
    const data = Object.fromEntries(new FormData(form));
    try {
      await ctx.gateway.providers.create({
        id: String(data.id),
        type: /** @type {any} */ (data.type),
        baseUrl: String(data.baseUrl),
        enabled: false,
        ...(data.apiKey ? { apiKey: String(data.apiKey) } : {}),
      });
      form.reset(); // stored: the key leaves the page
      await draw();
    } catch (err) {
      if (!markFields(form, err)) error.show(err); // the form keeps what was typed, to correct it
    }
  }

  draw();
  const section = h("section", { id: "providers-page" }, h("h2", {}, "Providers"), error.box, form);
  const healthError = alertBox("providers-health-error");
  const fresh = keepFresh(section, HEALTH_SECONDS, checkHealth, (err) => healthError.show(err), "Check health now");
  fresh.label.id = "providers-checked";
  section.append(h("p", { className: "toolbar" }, fresh.button, " ", fresh.label), healthError.box, table, report);
  return section;
}
