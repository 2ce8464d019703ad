// @ts-check
/**
 * The caller's own usage: tokens and cost per day (and per model, when the gateway reports it) over a chosen
 * window, today's budgets in words, and the ledger of recent requests, a page at a time.
 */

import { count, daysBetween, lastDays, perDay, timeChart } from "../charts.js";
import { modelTotals, plural } from "../series.js";
import { alertBox, fill, h, money, when } from "../dom.js";

/** Records per page of the ledger. */
export const PAGE_SIZE = 10;
/** The windows offered, in days. */
const WINDOWS = [7, 30, 90];

/**
 * Today's use of one budget in words: used, held by requests in flight, the limit, and what share that is.
 * @param {string} label
 * @param {number} used
 * @param {number} reserved
 * @param {number | null} budget
 * @param {(n: number) => string} format
 */
function meter(label, used, reserved, budget, format) {
  // Held at their worst case by requests in progress (and by the gateway's instances for their next ones), released as they settle.
  const held = reserved > 0 ? `, ${format(reserved)} reserved ahead (released as requests finish)` : "";
  if (budget === null) return h("p", {}, `${label}: ${format(used)} used today${held} (no daily limit)`);
  const share = budget > 0 ? Math.round((100 * (used + reserved)) / budget) : 100;
  return h(
    "p",
    { className: "quota" },
    h("span", {}, `${label}: ${format(used)} used${held}, of ${format(budget)} today (${share}%) `),
    h("meter", { min: 0, max: budget, low: budget * 0.75, high: budget * 0.9, optimum: 0, value: Math.min(used + reserved, budget), "aria-label": `${label} used and reserved today, ${share}% of the limit` }),
  );
}

/** How long until `iso`, roughly: "in 3 h 20 min". @param {string} iso */
function fromNow(iso) {
  const minutes = Math.max(0, Math.round((Date.parse(iso) - Date.now()) / 60_000));
  return minutes >= 60 ? `in ${Math.floor(minutes / 60)} h ${minutes % 60} min` : `in ${minutes} min`;
}

/** @param {{ status?: string, promptTokens?: number | null, completionTokens?: number | null, estimated?: boolean | null }} r */
function tokens(r) {
  // A cancelled request is booked before the provider reports anything: its zeros are not a count.
  if (r.status === "cancelled" && !r.estimated) return "unknown";
  if (r.promptTokens == null && r.completionTokens == null) return "unknown";
  const total = count((r.promptTokens ?? 0) + (r.completionTokens ?? 0));
  return r.estimated ? `≈${total} (estimated)` : total;
}

/** @param {number | null | undefined} ms */
function latency(ms) {
  if (ms == null) return "–";
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

/**
 * @param {import("../../gateway/types.js").UsageReport} report
 * @param {string[]} days
 */
function charts(report, days) {
  const rows = /** @type {Array<Record<string, any> & { date: string }>} */ (report.days);
  const out = [
    timeChart({ id: "usage-tokens-chart", title: "Tokens per day", days, series: [{ label: "tokens", values: perDay(days, rows, (d) => d.totalTokens) }], format: count }),
    timeChart({ id: "usage-cost-chart", title: "Cost per day", days, series: [{ label: "cost", values: perDay(days, rows, (d) => d.cost) }], format: (n) => money(n) }),
  ];
  const models = modelTotals(rows);
  if (!models) {
    out.push(h("p", { className: "meta", id: "usage-by-model" }, "This gateway does not report usage per model for a day; the table of requests below names each one's model."));
    return out;
  }
  const top = [...models.keys()].slice(0, 6);
  const rest = [...models.keys()].slice(6);
  const series = top.map((model) => ({ label: model, values: perDay(days, rows, (d) => d.models?.[model]?.totalTokens ?? 0) }));
  if (rest.length) series.push({ label: `${rest.length} others`, values: perDay(days, rows, (d) => rest.reduce((n, m) => n + (d.models?.[m]?.totalTokens ?? 0), 0)) });
  // Days booked before the per-model breakdown existed: their tokens are shown, as not broken down, rather than lost.
  const unknown = perDay(days, rows, (d) => Math.max(0, d.totalTokens - Object.values(d.models ?? {}).reduce((n, m) => n + (m?.totalTokens ?? 0), 0)));
  if (unknown.some((v) => v > 0)) series.push({ label: "model not recorded", values: unknown });
  out.push(
    timeChart({ id: "usage-models-chart", title: "Tokens per day by model", days, series, format: count, kind: "lines" }),
    h(
      "table",
      { id: "usage-by-model" },
      h("caption", {}, "By model over the window"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "model"), h("th", { scope: "col" }, "requests"), h("th", { scope: "col" }, "tokens"), h("th", { scope: "col" }, "cost"))),
      h("tbody", {}, ...[...models].map(([model, m]) => h("tr", { dataset: { model } }, h("td", {}, model), h("td", {}, count(m.requests)), h("td", {}, count(m.totalTokens)), h("td", {}, money(m.cost))))),
    ),
  );
  return out;
}

/** @param {import("../../gateway/types.js").UsageReport} report */
function quotaBlock(report) {
  const { quota } = report;
  if (!quota) return [];
  return [
    h("h3", {}, "Today's budgets"),
    meter("Tokens", quota.usedTokens, quota.reservedTokens, quota.dailyTokens, count),
    meter("Cost", quota.usedCostUsd, quota.reservedCostUsd, quota.dailyCostUsd, (n) => money(n)),
    quota.estimatedTokens > 0
      ? h("p", { className: "meta", id: "usage-estimated" }, `${count(quota.estimatedTokens)} of today's tokens are estimated: the provider did not report them (a stream cut off, or no usage).`)
      : null,
    h("p", { className: "meta", id: "usage-reset" }, "Daily limits reset at ", h("time", { dateTime: quota.resetAt }, when(quota.resetAt)), ` (${fromNow(quota.resetAt)}).`),
  ].filter((n) => n !== null);
}

/** @param {import("../../gateway/types.js").UsageRecord[]} records */
function recordsTable(records) {
  return h(
    "table",
    { id: "usage-records" },
    h("caption", { className: "visually-hidden" }, "Recent requests, newest first"),
    h(
      "thead",
      {},
      h("tr", {}, ...["when", "model", "route", "status", "tokens", "cost", "latency"].map((title) => h("th", { scope: "col" }, title))),
    ),
    h(
      "tbody",
      {},
      ...records.map((r) =>
        h(
          "tr",
          { dataset: { id: r.id } },
          h("td", { className: "nowrap" }, h("time", { dateTime: String(r.at) }, when(/** @type {string} */ (r.at)))),
          h("td", {}, r.modelId),
          h("td", {}, r.route),
          h("td", {}, r.status),
          h("td", {}, tokens(r)),
          h("td", {}, money(r.cost)),
          h("td", {}, latency(r.latencyMs)),
        ),
      ),
    ),
  );
}

/**
 * @param {import("../main.js").Context} ctx
 * @returns {HTMLElement}
 */
export function usagePage(ctx) {
  const error = alertBox("usage-error");
  const totals = h("p", { id: "usage-totals", "aria-live": "polite" }, "Loading…");
  const quota = h("div", { id: "usage-quota" });
  const chartBox = h("div", { id: "usage-charts", className: "charts" });
  const records = h("div", { id: "usage-records-box" });
  const pageInfo = h("span", { id: "usage-page-info", className: "meta", "aria-live": "polite" });
  const newer = /** @type {HTMLButtonElement} */ (h("button", { id: "usage-newer", type: "button", disabled: true, onclick: () => turn(-1) }, "← Newer"));
  const older = /** @type {HTMLButtonElement} */ (h("button", { id: "usage-older", type: "button", disabled: true, onclick: () => turn(1) }, "Older →"));
  const windowSelect = /** @type {HTMLSelectElement} */ (
    h("select", { id: "usage-window", name: "window", onchange: () => load() }, ...WINDOWS.map((n) => h("option", { value: String(n), selected: n === 30 }, `Last ${n} days`)))
  );

  /** Tokens of the pages seen so far: tokens[i] opens page i (page 0 has none). */
  /** @type {(string | null)[]} */
  let tokensSeen = [null];
  let pageIndex = 0;
  let range = lastDays(30);

  /** The whole report for the chosen window: totals, charts, budgets and the first page of requests. */
  async function load() {
    error.show(null);
    range = lastDays(Number(windowSelect.value));
    tokensSeen = [null];
    pageIndex = 0;
    totals.textContent = "Loading…";
    try {
      const report = await ctx.gateway.usage({ ...range, limit: PAGE_SIZE });
      const t = report.totals;
      const days = daysBetween(report.from, report.to);
      totals.textContent = `${plural(t.requests, "request")}, ${plural(t.totalTokens, "token")}, ${plural(t.images, "image")}, ${money(t.cost)} from ${report.from} to ${report.to} (UTC).`;
      fill(quota, .../** @type {HTMLElement[]} */ (quotaBlock(report)));
      fill(chartBox, ...charts(report, days));
      showRecords(report);
    } catch (err) {
      totals.textContent = "";
      error.show(err);
    }
  }

  /** @param {import("../../gateway/types.js").UsageReport | import("../../gateway/types.js").UsageRecordsPage} report */
  function showRecords(report) {
    tokensSeen[pageIndex + 1] = report.nextPageToken;
    fill(records, report.records.length ? recordsTable(report.records) : h("p", { id: "usage-records-empty" }, "No requests in this window."));
    newer.disabled = pageIndex === 0;
    older.disabled = !report.nextPageToken;
    const first = pageIndex * PAGE_SIZE + 1;
    pageInfo.textContent = report.records.length ? `Requests ${first} to ${first + report.records.length - 1}` : "";
  }

  /** Another page of the ledger: the records alone (the totals and charts stay, and the gateway does not sum the days again). @param {number} step */
  async function turn(step) {
    const target = pageIndex + step;
    const token = tokensSeen[target];
    if (target < 0 || (target > 0 && !token)) return;
    error.show(null);
    newer.disabled = older.disabled = true;
    try {
      const report = await ctx.gateway.usageRecords({ ...range, limit: PAGE_SIZE, pageToken: token ?? undefined });
      pageIndex = target;
      showRecords(report);
    } catch (err) {
      error.show(err);
      newer.disabled = pageIndex === 0;
      older.disabled = !tokensSeen[pageIndex + 1];
    }
  }

  load();
  return h(
    "section",
    { id: "usage-page" },
    h("h2", {}, "Usage"),
    h("div", { className: "row toolbar" }, h("label", { className: "field" }, "Window", windowSelect)),
    error.box,
    totals,
    quota,
    chartBox,
    h("h3", {}, "Recent requests"),
    records,
    h("nav", { className: "row pager", "aria-label": "Pages of requests" }, newer, pageInfo, older),
  );
}
