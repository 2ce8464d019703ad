// @ts-check
/** The caller's own usage and daily quota. */

import { alertBox, fill, h, money, when } from "../dom.js";

/**
 * Today's use of one budget: used, and what requests in flight hold (reserved at their worst case).
 * @param {string} label
 * @param {number} used
 * @param {number} reserved
 * @param {number | null} budget
 * @param {(n: number) => string} format
 */
function meter(label, used, reserved, budget, format) {
  const held = reserved > 0 ? `, ${format(reserved)} reserved by requests in flight` : "";
  if (budget === null) return h("p", {}, `${label}: ${format(used)} used today${held} (no daily limit)`);
  return h(
    "p",
    {},
    `${label}: ${format(used)} used${held}, of ${format(budget)} today `,
    h("meter", { min: 0, max: budget, value: Math.min(used + reserved, budget), "aria-label": `${label} used and reserved today` }),
  );
}

/** @param {{ status?: string, promptTokens?: number | null, completionTokens?: number | null, estimated?: boolean | null }} r */
function tokens(r) {
  // A cancelled request is booked before the provider reports anything: its zeros are not a count.
  if (r.status === "cancelled" && !r.estimated) return "unknown";
  if (r.promptTokens == null && r.completionTokens == null) return "unknown";
  const count = String((r.promptTokens ?? 0) + (r.completionTokens ?? 0));
  return r.estimated ? `≈${count} (estimated)` : count;
}

/**
 * @param {import("../main.js").Context} ctx
 * @returns {HTMLElement}
 */
export function usagePage(ctx) {
  const body = h("div", { id: "usage-body" }, "Loading…");
  const error = alertBox("usage-error");
  ctx.gateway
    .usage({ limit: 10 })
    .then((report) => {
      const { totals, quota } = report;
      fill(
        body,
        h("p", { id: "usage-totals" }, `${totals.requests} requests, ${totals.totalTokens} tokens, ${totals.images} images, ${money(totals.cost)} (${report.from} to ${report.to})`),
        h(
          "div",
          { id: "usage-quota" },
          quota ? meter("Tokens", quota.usedTokens, quota.reservedTokens, quota.dailyTokens, String) : null,
          quota ? meter("Cost", quota.usedCostUsd, quota.reservedCostUsd, quota.dailyCostUsd, (n) => money(n)) : null,
          quota && quota.estimatedTokens > 0
            ? h("p", { className: "meta", id: "usage-estimated" }, `${quota.estimatedTokens} of today's tokens are estimated: the provider did not report them (a stream cut off, or no usage).`)
            : null,
          quota ? h("p", { className: "meta" }, `Daily limits reset at ${new Date(quota.resetAt).toLocaleString()}`) : null,
        ),
        h(
          "table",
          { id: "usage-records" },
          h("tr", {}, h("th", {}, "when"), h("th", {}, "model"), h("th", {}, "route"), h("th", {}, "status"), h("th", {}, "tokens"), h("th", {}, "cost")),
          ...report.records.map((r) =>
            h("tr", {}, h("td", { title: String(r.at) }, h("time", { dateTime: String(r.at) }, when(/** @type {string} */ (r.at)))), h("td", {}, r.modelId), h("td", {}, r.route), h("td", {}, r.status), h("td", {}, tokens(r)), h("td", {}, money(r.cost))),
          ),
        ),
      );
    })
    .catch((/** @type {unknown} */ err) => {
      body.textContent = "";
      error.show(err);
    });
  return h("section", { id: "usage-page" }, h("h2", {}, "Usage"), error.box, body);
}
