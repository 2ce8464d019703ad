// @ts-check
/**
 * Admin: the model registry (create, edit, enable/disable, fallbacks, delete).
 *
 * The form's inputs are named like the API's fields (`config.maxTokens`, `pricing.inputPer1M`) so the
 * API's validation messages land next to the field they name: the API is the one judge of a model.
 */

import { alertBox, field, fill, h, markFields, money } from "../dom.js";

const TYPES = ["text", "image", "multimodal", "embedding"];
const CONFIG = /** @type {const} */ ([
  ["maxTokens", "max tokens (default)"],
  ["maxTokensLimit", "max tokens (limit)"],
  ["temperature", "temperature"],
  ["topP", "top p"],
  ["timeoutSeconds", "timeout (s)"],
  ["width", "image width (px)"],
  ["height", "image height (px)"],
  ["steps", "image steps"],
  ["guidanceScale", "image guidance scale"],
]);
const PRICING = /** @type {const} */ ([
  ["inputPer1M", "input $ per 1M tokens"],
  ["cachedInputPer1M", "cached input $ per 1M"],
  ["outputPer1M", "output $ per 1M tokens"],
  ["perImage", "$ per image"],
]);

/** @param {import("../../gateway/types").Model} m */
function price(m) {
  if (!m.pricing) return "unknown";
  if (m.type === "image") return `${money(m.pricing.perImage)} per image`;
  if (m.type === "embedding") return `${money(m.pricing.inputPer1M)} per 1M tokens`;
  return `${money(m.pricing.inputPer1M)} / ${money(m.pricing.outputPer1M)} per 1M tokens`;
}

/** @param {string} name @param {Record<string, any>} [props] */
const input = (name, props = {}) => /** @type {HTMLInputElement} */ (h("input", { name, ...props }));
/** @param {string} name */
const number = (name) => input(name, { type: "number", step: "any", inputMode: "decimal" });

/** A number input's value: null when empty (the API says what is wrong with the rest). @param {HTMLInputElement} el */
const numberOf = (el) => (el.value.trim() === "" ? null : Number(el.value));

/**
 * @param {import("../main.js").Context} ctx
 * @returns {HTMLElement}
 */
export function modelsPage(ctx) {
  const table = h("table", { id: "models-table" });
  const error = alertBox("models-error");
  /** @type {import("../../gateway/types").Model[]} */
  let models = [];
  /** @type {string | null} the model the form edits (null: it creates one) */
  let editing = null;

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
    return h(
      "tr",
      { dataset: { model: m.id } },
      h("td", {}, m.id),
      h("td", {}, m.displayName ?? m.name),
      h("td", {}, m.provider),
      h("td", {}, m.type ?? "text"),
      h("td", {}, enabled),
      h("td", { className: "fallbacks" }, (m.fallbacks ?? []).join(", ") || "–"),
      h("td", {}, price(m)),
      h(
        "td",
        { className: "nowrap" },
        h("button", { type: "button", onclick: () => edit(m) }, "Edit"),
        h("button", { type: "button", className: "danger", onclick: () => confirm(`Delete ${m.id}?`) && act(() => ctx.gateway.models.delete(m.id)) }, "Delete"),
      ),
    );
  }

  async function draw() {
    try {
      ({ models } = await ctx.gateway.models.list({ limit: 100 }));
      fill(
        table,
        h("tr", {}, ...["id", "name", "provider", "type", "enabled", "fallbacks", "price in / out", "actions"].map((t) => h("th", {}, t))),
        ...models.map(row),
      );
      fillFallbacks();
    } catch (err) {
      error.show(err);
    }
  }

  const f = {
    id: input("id", { placeholder: "my-model", required: true }),
    name: input("name", { placeholder: "the provider's model name", required: true }),
    displayName: input("displayName", { placeholder: "shown to users (optional)" }),
    endpointURL: input("endpointURL", { type: "url", placeholder: "optional: called instead of the provider's base URL" }),
    provider: /** @type {HTMLSelectElement} */ (h("select", { name: "provider", required: true }, h("option", { value: "" }, "loading providers…"))),
    type: /** @type {HTMLSelectElement} */ (h("select", { name: "type" }, ...TYPES.map((t) => h("option", { value: t }, t)))),
    enabled: input("enabled", { type: "checkbox" }),
    capabilities: input("capabilities", { placeholder: "chat, streaming, vision" }),
    fallbacks: /** @type {HTMLSelectElement} */ (h("select", { name: "fallbacks", multiple: true, size: 4 })),
    systemPrompt: /** @type {HTMLTextAreaElement} */ (h("textarea", { name: "config.systemPrompt", rows: 2 })),
    config: Object.fromEntries(CONFIG.map(([key]) => [key, number(`config.${key}`)])),
    pricing: Object.fromEntries(PRICING.map(([key]) => [key, number(`pricing.${key}`)])),
  };
  const title = h("h3", {}, "New model");
  const submit = h("button", { type: "submit" }, "Create");
  const cancel = h("button", { type: "button", hidden: true, onclick: () => reset() }, "Cancel edit");

  function fillFallbacks() {
    const chosen = new Set([...f.fallbacks.selectedOptions].map((o) => o.value));
    fill(f.fallbacks, ...models.filter((m) => m.id !== editing).map((m) => h("option", { value: m.id, selected: chosen.has(m.id) }, `${m.id} (${m.provider})`)));
  }

  async function loadProviders() {
    try {
      const { providers } = /** @type {{ providers: import("../../gateway/types").Provider[] }} */ (await ctx.gateway.providers.list());
      const current = f.provider.value;
      fill(
        f.provider,
        h("option", { value: "" }, providers.length ? "choose a provider" : "no providers yet: add one on Providers"),
        ...providers.map((p) => h("option", { value: p.id, selected: p.id === current }, `${p.id} (${p.type})${p.enabled ? "" : " – disabled"}`)),
      );
    } catch (err) {
      error.show(err);
    }
  }

  const form = /** @type {HTMLFormElement} */ (
    h(
      "form",
      { id: "model-form", onsubmit: save, noValidate: false },
      title,
      h(
        "fieldset",
        {},
        h("legend", {}, "Model"),
        field("id", f.id),
        field("model name", f.name),
        field("display name", f.displayName),
        field("provider", f.provider),
        field("endpoint URL (admins only)", f.endpointURL),
        field("type", f.type),
        field("enabled", f.enabled),
        field("capabilities", f.capabilities),
        field("fallbacks (tried in order when it fails)", f.fallbacks),
      ),
      h("fieldset", {}, h("legend", {}, "Config"), ...CONFIG.map(([key, label]) => field(label, f.config[key])), field("system prompt", f.systemPrompt)),
      h("fieldset", {}, h("legend", {}, "Pricing (USD; empty: unknown, never free)"), ...PRICING.map(([key, label]) => field(label, f.pricing[key]))),
      submit,
      cancel,
    )
  );

  /** The form as a model body; empty fields are null (a PATCH drops them, a create leaves them out). */
  function body() {
    const config = Object.fromEntries(Object.entries(f.config).map(([k, el]) => [k, numberOf(el)]));
    const pricing = Object.fromEntries(Object.entries(f.pricing).map(([k, el]) => [k, numberOf(el)]));
    return {
      name: f.name.value,
      displayName: f.displayName.value === "" ? null : f.displayName.value,
      endpointURL: f.endpointURL.value.trim() === "" ? null : f.endpointURL.value.trim(),
      provider: f.provider.value,
      type: /** @type {any} */ (f.type.value),
      enabled: f.enabled.checked,
      capabilities: f.capabilities.value.split(",").map((s) => s.trim()).filter(Boolean),
      fallbacks: [...f.fallbacks.selectedOptions].map((o) => o.value),
      config: { ...config, systemPrompt: f.systemPrompt.value === "" ? null : f.systemPrompt.value },
      pricing: Object.values(pricing).some((v) => v !== null) ? pricing : null,
    };
  }

  /** @param {Record<string, any>} obj */
  const withoutNulls = (obj) => Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== null));

  /** @param {SubmitEvent} event */
  async function save(event) {
    event.preventDefault();
    error.show(null);
    markFields(form, null);
    const data = body();
    try {
      if (editing) await ctx.gateway.models.update(editing, /** @type {any} */ (data));
      else {
        const create = { ...withoutNulls(data), id: f.id.value, config: withoutNulls(data.config), ...(data.pricing ? { pricing: withoutNulls(data.pricing) } : {}) };
        await ctx.gateway.models.create(/** @type {any} */ (create));
      }
      reset();
      await draw();
    } catch (err) {
      if (!markFields(form, err)) error.show(err); // the form keeps what was typed
    }
  }

  /** @param {import("../../gateway/types").Model} m */
  function edit(m) {
    editing = m.id;
    markFields(form, null);
    title.textContent = `Edit ${m.id}`;
    submit.textContent = "Save";
    cancel.hidden = false;
    f.id.value = m.id;
    f.id.readOnly = true;
    f.name.value = m.name;
    f.displayName.value = m.displayName && m.displayName !== m.name ? m.displayName : "";
    f.endpointURL.value = /** @type {any} */ (m).endpointURL ?? "";
    if (![...f.provider.options].some((o) => o.value === m.provider)) f.provider.append(h("option", { value: m.provider }, m.provider));
    f.provider.value = m.provider;
    f.type.value = m.type ?? "text";
    f.enabled.checked = m.enabled ?? true;
    f.capabilities.value = (m.capabilities ?? []).join(", ");
    const config = /** @type {Record<string, any>} */ (m.config ?? {});
    for (const [key, el] of Object.entries(f.config)) el.value = config[key] ?? "";
    f.systemPrompt.value = config.systemPrompt ?? "";
    const pricing = /** @type {Record<string, any>} */ (m.pricing ?? {});
    for (const [key, el] of Object.entries(f.pricing)) el.value = pricing[key] ?? "";
    fillFallbacks();
    for (const option of f.fallbacks.options) option.selected = (m.fallbacks ?? []).includes(option.value);
    form.scrollIntoView?.({ block: "start" });
    f.name.focus();
  }

  function reset() {
    editing = null;
    form.reset();
    markFields(form, null);
    title.textContent = "New model";
    submit.textContent = "Create";
    cancel.hidden = true;
    f.id.readOnly = false;
    fillFallbacks();
  }

  loadProviders();
  draw();
  return h("section", { id: "models-page" }, h("h2", {}, "Models"), error.box, table, form);
}
