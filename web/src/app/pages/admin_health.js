// @ts-check
/** Admin: provider health (the public `health` function) and the audit trail (Firestore, admins only). */

import { collection, getDocs, limit, orderBy, query } from "firebase/firestore";

import { alertBox, fill, h } from "../dom.js";

/**
 * @param {import("../main.js").Context} ctx
 * @returns {HTMLElement}
 */
export function healthPage(ctx) {
  const body = h("div", { id: "health-body" });
  const error = alertBox("health-error");
  async function draw() {
    error.show(null);
    try {
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
    } catch (err) {
      error.show(err);
    }
  }
  draw();
  return h("section", { id: "health-page" }, h("h2", {}, "Health"), h("button", { type: "button", onclick: draw }, "Refresh"), error.box, body);
}

/**
 * @param {import("../main.js").Context} ctx
 * @returns {HTMLElement}
 */
export function auditPage(ctx) {
  const table = h("table", { id: "audit-table" });
  const error = alertBox("audit-error");
  async function draw() {
    error.show(null);
    try {
      const snap = await getDocs(query(collection(ctx.db, "audit"), orderBy("at", "desc"), limit(50)));
      fill(
        table,
        h("tr", {}, ...["when", "actor", "action", "document", "via"].map((t) => h("th", {}, t))),
        ...snap.docs.map((doc) => {
          const a = doc.data();
          return h("tr", {}, h("td", {}, a.at?.toDate?.().toLocaleString() ?? ""), h("td", {}, a.actor), h("td", {}, a.action), h("td", {}, `${a.collection}/${a.docId}`), h("td", {}, a.via ?? ""));
        }),
      );
    } catch (err) {
      error.show(err);
    }
  }
  draw();
  return h("section", { id: "audit-page" }, h("h2", {}, "Audit trail"), h("button", { type: "button", onclick: draw }, "Refresh"), error.box, table);
}
