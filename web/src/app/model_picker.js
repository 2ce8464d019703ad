// @ts-check
/**
 * A model <select> that offers what the caller can call.
 *
 * Users and viewers are listed only callable models (enabled, of an enabled provider). Admins are
 * listed every model: the disabled ones, and those of a disabled provider, are shown marked and
 * not selectable, so the default (the last model used here, else the first callable one) always works.
 *
 * Each model's provider health comes from the public `health` report (read once the list is drawn,
 * so a slow probe never holds the picker up): an option whose provider is down or unknown says so in
 * its text (an <option> holds no markup), and a model whose provider is down is never the default.
 */

import { fill, h } from "./dom.js";

/** @typedef {import("../gateway/types").Model} Model */
/** @typedef {"up" | "down" | "unknown"} Health */

/** What an option adds to its model's name for each provider health (up needs no word). */
const HEALTH_NOTE = { up: "", down: "provider down", unknown: "provider status unknown" };

/**
 * Fill `select` with the models of the kinds `keep` accepts; answers the callable ones.
 * `select.dataset.health` becomes "loaded" once the options carry their providers' health.
 * @param {import("../gateway/index.js").Gateway} gateway
 * @param {HTMLSelectElement} select
 * @param {(model: Model) => boolean} keep
 * @param {{ admin?: boolean, remember?: string }} [options]  `remember`: a localStorage key for the choice
 * @returns {Promise<Model[]>}
 */
export async function loadModels(gateway, select, keep, options = {}) {
  const health = providerHealth(gateway);
  const [{ models }, offProviders] = await Promise.all([gateway.listModels({ limit: 100 }), disabledProviders(gateway, options.admin ?? false)]);
  const listed = models.filter(keep);
  /** @param {Model} m */
  const why = (m) => (m.enabled === false ? "disabled" : offProviders.has(m.provider) ? "provider disabled" : null);
  const callable = listed.filter((m) => why(m) === null);
  fill(
    select,
    ...listed.map((m) => {
      const reason = why(m);
      const label = m.displayName || m.id;
      return h("option", { value: m.id, disabled: reason !== null, dataset: reason ? { unavailable: reason, label } : { label } }, reason ? `${label} (${reason})` : label);
    }),
  );
  const saved = options.remember ? localStorage.getItem(options.remember) : null;
  let touched = false;
  /** @param {(m: Model) => boolean} usable */
  const pick = (usable) => {
    const initial = callable.find((m) => m.id === saved && usable(m)) ?? callable.find(usable);
    if (initial) select.value = initial.id;
    else select.selectedIndex = -1;
  };
  pick(() => true);
  select.disabled = callable.length === 0;
  select.addEventListener("change", () => {
    touched = true;
    if (options.remember) localStorage.setItem(options.remember, select.value);
  });
  health.then((of) => {
    for (const option of select.options) {
      const model = callable.find((m) => m.id === option.value);
      if (!model) continue;
      const state = of(model.provider);
      option.dataset.health = state;
      option.textContent = HEALTH_NOTE[state] ? `${option.dataset.label} (${HEALTH_NOTE[state]})` : (option.dataset.label ?? option.value);
    }
    // The first choice again, now that it is known which providers are down (unless the reader chose meanwhile).
    if (!touched) {
      const rank = (/** @type {Model} */ m) => ({ up: 0, unknown: 1, down: 2 })[of(m.provider)];
      const best = Math.min(...callable.map(rank));
      pick((m) => rank(m) === best && of(m.provider) !== "down");
    }
    select.dataset.health = "loaded";
    select.dispatchEvent(new Event("health"));
  });
  return callable;
}

/**
 * Each provider's health from the public report: "up", "down", or "unknown" (not probed: disabled, or the report failed).
 * @param {import("../gateway/index.js").Gateway} gateway
 * @returns {Promise<(provider: string) => Health>}
 */
async function providerHealth(gateway) {
  /** @type {Record<string, { status?: string }>} */
  let providers = {};
  try {
    const report = /** @type {{ providers?: Record<string, { status?: string }> }} */ (await gateway.health());
    providers = report?.providers ?? {};
  } catch {
    // no report: every provider's health is unknown
  }
  return (provider) => {
    const status = providers[provider]?.status;
    return status === "healthy" ? "up" : status === "unhealthy" ? "down" : "unknown";
  };
}

/** Words for what a model can do, e.g. "Reads images: yes · Tools: no · JSON answers: yes". @param {Model | undefined} model */
export function capabilityWords(model) {
  if (!model) return "";
  const has = new Set(model.capabilities ?? []);
  const yes = (/** @type {boolean} */ b) => (b ? "yes" : "no");
  // Every text model can answer JSON (the gateway emulates it where a provider has no JSON mode).
  return `Reads images: ${yes(has.has("vision"))} · Tools: ${yes(has.has("tools"))} · JSON answers: yes`;
}

/**
 * A line beside the picker: a dot and words for the selected model's provider health, and what the model can do.
 * Updated on every change of the selection and when the health report arrives.
 * @param {HTMLSelectElement} select
 * @param {() => Model | undefined} selected
 */
export function modelStatus(select, selected) {
  const dot = h("span", { className: "health-dot", "aria-hidden": "true" });
  const words = h("span", { id: "chat-model-health" });
  const caps = h("span", { id: "chat-model-caps" });
  const line = h("p", { id: "chat-model-status", className: "model-status" }, dot, words, caps);
  const draw = () => {
    const option = select.selectedOptions[0];
    const state = option?.dataset.health ?? (select.dataset.health === "loaded" ? "unknown" : "checking");
    line.dataset.health = state;
    words.textContent = option ? (state === "checking" ? "Provider: checking…" : `Provider ${state === "unknown" ? "status unknown" : state}`) : "No model selected";
    caps.textContent = option ? capabilityWords(selected()) : "";
  };
  select.addEventListener("change", draw);
  select.addEventListener("health", draw);
  return { line, draw };
}

/**
 * Ids of the disabled providers (admins only: nobody else may list providers, nor is listed their models).
 * @param {import("../gateway/index.js").Gateway} gateway
 * @param {boolean} admin
 * @returns {Promise<Set<string>>}
 */
async function disabledProviders(gateway, admin) {
  if (!admin) return new Set();
  const { providers } = /** @type {{ providers: Array<{ id: string, enabled?: boolean }> }} */ (await gateway.providers.list());
  return new Set(providers.filter((p) => p.enabled === false).map((p) => p.id));
}
