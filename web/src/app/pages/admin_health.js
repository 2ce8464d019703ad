// @ts-check
/** Admin: provider health (the public `health` function), re-checked every 30 s while the page is shown, and on demand. */

import { alertBox, fill, h } from "../dom.js";
import { HEALTH_SECONDS, keepFresh } from "../refresh.js";

/**
 * @param {import("../main.js").Context} ctx
 * @returns {HTMLElement}
 */
export function healthPage(ctx) {
  const body = h("div", { id: "health-body" });
  const error = alertBox("health-error");
  const section = h("section", { id: "health-page" }, h("h2", {}, "Health"));

  async function draw() {
    const health = /** @type {any} */ (await ctx.gateway.health());
    fill(
      body,
      h("p", { id: "health-status", dataset: { status: health.status } }, `Overall: ${health.status} (${health.summary.healthy}/${health.summary.total} providers healthy)`),
      h(
        "table",
        {},
        h("tr", {}, h("th", {}, "provider"), h("th", {}, "status"), h("th", {}, "latency"), h("th", {}, "error")),
        ...Object.entries(health.providers).map(([id, p]) =>
          h("tr", { dataset: { provider: id } }, h("td", {}, id), h("td", {}, p.status), h("td", {}, `${p.latencyMs ?? "?"} ms`), h("td", {}, p.error ?? "")),
        ),
      ),
    );
  }

  const fresh = keepFresh(section, HEALTH_SECONDS, draw, (err) => error.show(err));
  fresh.label.id = "health-checked";
  section.append(h("p", { className: "toolbar" }, fresh.button, " ", fresh.label), error.box, body);
  return section;
}
