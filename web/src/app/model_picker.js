// @ts-check
/**
 * A model <select> that offers what the caller can call.
 *
 * Users and viewers are listed only callable models (enabled, of an enabled provider). Admins are
 * listed every model: the disabled ones, and those of a disabled provider, are shown marked and
 * not selectable, so the default (the last model used here, else the first callable one) always works.
 */

import { fill, h } from "./dom.js";

/** @typedef {import("../gateway/types").Model} Model */

/**
 * Fill `select` with the models of the kinds `keep` accepts; answers the callable ones.
 * @param {import("../gateway/index.js").Gateway} gateway
 * @param {HTMLSelectElement} select
 * @param {(model: Model) => boolean} keep
 * @param {{ admin?: boolean, remember?: string }} [options]  `remember`: a localStorage key for the choice
 * @returns {Promise<Model[]>}
 */
export async function loadModels(gateway, select, keep, options = {}) {
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
      return h("option", { value: m.id, disabled: reason !== null, dataset: reason ? { unavailable: reason } : {} }, reason ? `${label} (${reason})` : label);
    }),
  );
  const saved = options.remember ? localStorage.getItem(options.remember) : null;
  const initial = callable.find((m) => m.id === saved) ?? callable[0];
  if (initial) select.value = initial.id;
  else select.selectedIndex = -1;
  select.disabled = callable.length === 0;
  if (options.remember) {
    const key = options.remember;
    select.addEventListener("change", () => localStorage.setItem(key, select.value));
  }
  return callable;
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
