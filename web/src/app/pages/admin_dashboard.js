// @ts-check
/**
 * The admin dashboard: requests, errors, tokens and cost per day for each model or provider (one chart,
 * the measure and the grouping chosen), and latency percentiles per route, model and provider (tables),
 * over a chosen window. Everything comes from one `GET /usage/metrics`, which reads per-day aggregates.
 */

import { count, daysBetween, lastDays, perDay, timeChart } from "../charts.js";
import { alertBox, fill, h, money } from "../dom.js";
import { plural } from "../series.js";

/** @typedef {import("../../gateway/types.js").MetricsReport} Metrics */
/** @typedef {import("../../gateway/types.js").MetricsGroup | import("../../gateway/types.js").MetricsModel} Group */

const WINDOWS = [7, 30, 90];
/** The measures a chart can show, and how each reads. */
const MEASURES = /** @type {const} */ ({
  requests: { title: "Requests", format: count },
  errors: { title: "Errors", format: count },
  totalTokens: { title: "Tokens", format: count },
  cost: { title: "Cost", format: (/** @type {number} */ n) => money(n) },
});
const GROUPS = /** @type {const} */ ({ byModel: "model", byProvider: "provider" });
/** Lines drawn at most; the rest are summed into one "others" line. */
const MAX_LINES = 6;

/** @param {number | null | undefined} ms */
function ms(ms) {
  return ms == null ? "–" : `${Math.round(ms).toLocaleString("en-US")} ms`;
}

/**
 * One chart: a measure per day for each group (the largest few, the rest summed).
 * @param {Metrics} metrics
 * @param {keyof typeof MEASURES} measure
 * @param {keyof typeof GROUPS} grouping
 */
export function groupChart(metrics, measure, grouping) {
  const days = metrics.days?.length ? metrics.days : daysBetween(metrics.from, metrics.to);
  const groups = [...metrics[grouping]].sort((a, b) => (b[measure] ?? 0) - (a[measure] ?? 0));
  const shown = groups.slice(0, MAX_LINES);
  const rest = groups.slice(MAX_LINES);
  const series = shown.map((g) => ({ label: g.key, values: perDay(days, g.daily ?? [], (d) => d[measure]) }));
  if (rest.length) {
    const sums = rest.map((g) => perDay(days, g.daily ?? [], (d) => d[measure]));
    series.push({ label: `${rest.length} others`, values: days.map((_, i) => sums.reduce((n, s) => n + s[i], 0)) });
  }
  const { title, format } = MEASURES[measure];
  return timeChart({ id: "dashboard-chart", title: `${title} per day by ${GROUPS[grouping]}`, days, series, format, kind: "lines" });
}

/**
 * A table of groups: totals and latency percentiles.
 * @param {string} id
 * @param {string} caption
 * @param {string} keyTitle
 * @param {Group[]} groups
 * @param {boolean} withProvider
 */
function groupTable(id, caption, keyTitle, groups, withProvider) {
  const titles = [keyTitle, ...(withProvider ? ["provider"] : []), "requests", "errors", "tokens", "cost", "p50", "p95", "p99"];
  return h(
    "table",
    { id, className: "metrics" },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, ...titles.map((t) => h("th", { scope: "col" }, t)))),
    h(
      "tbody",
      {},
      ...(groups.length
        ? groups.map((g) =>
            h(
              "tr",
              { dataset: { key: g.key } },
              h("td", { className: "key" }, g.key),
              withProvider ? h("td", {}, ("provider" in g ? g.provider : null) ?? "–") : null,
              h("td", {}, count(g.requests)),
              h("td", {}, g.errors ? `${count(g.errors)} (${Math.round((100 * g.errors) / Math.max(1, g.requests))}%)` : "0"),
              h("td", {}, count(g.totalTokens)),
              h("td", {}, money(g.cost)),
              h("td", { className: "p50" }, ms(g.latencyMs?.p50)),
              h("td", { className: "p95" }, ms(g.latencyMs?.p95)),
              h("td", { className: "p99" }, ms(g.latencyMs?.p99)),
            ),
          )
        : [h("tr", {}, h("td", { colSpan: titles.length }, "No requests in this window."))]),
    ),
  );
}

/** @param {Metrics} m */
function totalsLine(m) {
  const t = m.totals;
  const rate = t.requests ? ` (${((100 * t.errors) / t.requests).toFixed(1)}%)` : "";
  const lat = t.latencyMs?.count ? `; latency p50 ${ms(t.latencyMs.p50)}, p95 ${ms(t.latencyMs.p95)}, p99 ${ms(t.latencyMs.p99)} over ${count(t.latencyMs.count)} timed requests` : "";
  return `${plural(t.requests, "request")}, ${plural(t.errors, "error")}${rate}, ${plural(t.totalTokens, "token")} (${count(t.promptTokens)} prompt, ${count(t.completionTokens)} completion), ${money(t.cost)} from ${m.from} to ${m.to} (UTC)${lat}.`;
}

/**
 * @param {import("../main.js").Context} ctx
 * @returns {HTMLElement}
 */
export function dashboardPage(ctx) {
  const error = alertBox("dashboard-error");
  const totals = h("p", { id: "dashboard-totals", "aria-live": "polite" }, "Loading…");
  const chartBox = h("div", { id: "dashboard-charts", className: "charts" });
  const tables = h("div", { id: "dashboard-tables" });
  const source = h("p", { id: "dashboard-source", className: "meta" });
  const select = (/** @type {string} */ id, /** @type {string} */ name, /** @type {[string, string][]} */ options, /** @type {string} */ chosen, /** @type {() => void} */ onchange) =>
    /** @type {HTMLSelectElement} */ (h("select", { id, name, onchange }, ...options.map(([value, text]) => h("option", { value, selected: value === chosen }, text))));
  const windowSelect = select("dashboard-window", "window", WINDOWS.map((n) => [String(n), `Last ${n} days`]), "30", () => load());
  const measureSelect = select("dashboard-measure", "measure", Object.entries(MEASURES).map(([k, v]) => [k, v.title]), "requests", () => redraw());
  const groupSelect = select("dashboard-group", "group", Object.entries(GROUPS).map(([k, v]) => [k, `per ${v}`]), "byModel", () => redraw());

  /** @type {Metrics | null} */
  let metrics = null;

  function redraw() {
    if (!metrics) return;
    fill(chartBox, groupChart(metrics, /** @type {keyof typeof MEASURES} */ (measureSelect.value), /** @type {keyof typeof GROUPS} */ (groupSelect.value)));
  }

  async function load() {
    error.show(null);
    totals.textContent = "Loading…";
    const started = performance.now();
    try {
      metrics = await ctx.gateway.usageMetrics(lastDays(Number(windowSelect.value)));
      totals.textContent = totalsLine(metrics);
      redraw();
      fill(
        tables,
        h("h3", {}, "Latency and totals"),
        h("p", { className: "meta" }, "Latency percentiles (ms) are read off per-day histograms of 1.25× buckets, so each is within about 25% of the exact value; requests with no measured latency are not counted."),
        groupTable("dashboard-routes", "Per function (route)", "route", metrics.byRoute, false),
        groupTable("dashboard-models", "Per model", "model", metrics.byModel, true),
        groupTable("dashboard-providers", "Per provider", "provider", metrics.byProvider, false),
      );
      source.textContent = `Figures from ${count(metrics.documentsRead)} documents, fetched in ${Math.round(performance.now() - started)} ms.`;
      source.dataset.documents = String(metrics.documentsRead);
    } catch (err) {
      totals.textContent = "";
      error.show(err);
    }
  }

  load();
  return h(
    "section",
    { id: "dashboard-page" },
    h("h2", {}, "Dashboard"),
    h(
      "div",
      { className: "row toolbar" },
      h("label", { className: "field" }, "Window", windowSelect),
      h("label", { className: "field" }, "Chart", measureSelect),
      h("label", { className: "field" }, "Lines", groupSelect),
    ),
    error.box,
    totals,
    chartBox,
    tables,
    source,
  );
}
