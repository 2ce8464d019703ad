// @ts-check
/**
 * Daily charts for the usage and dashboard pages, drawn by uPlot (small, fast, canvas, maintained).
 *
 * A canvas says nothing to a screen reader, so every chart is a <figure> whose caption sums it up in words
 * and whose numbers are in a data table behind a "Show the numbers" toggle; the canvas itself is hidden
 * from assistive technology. Series colours all have at least 4.5:1 contrast on white, and each series
 * also has its own dash pattern, so a reader who can't tell the colours apart can still tell the lines.
 */

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

import { h } from "./dom.js";
import { compact, count, summarise } from "./series.js";

export { count, daysBetween, lastDays, perDay } from "./series.js";

/** GitHub Primer's accessible foreground colours: each ≥ 4.5:1 on #fff. */
export const PALETTE = ["#0969da", "#bc4c00", "#1a7f37", "#8250df", "#bf3989", "#57606a", "#9a6700", "#0a3069"];
/** Dash patterns, one per series, for readers who cannot tell the colours apart. */
const DASHES = [[], [8, 4], [2, 3], [10, 3, 2, 3], [4, 4], [1, 2], [12, 6], [6, 2, 2, 2]];

/** @typedef {import("./series.js").ChartSpec} ChartSpec */

/**
 * The numbers behind a chart: one row a day (days with nothing are left out, unless all are), one column a series.
 * @param {ChartSpec} spec
 */
function dataTable(spec) {
  const { days, series, format } = spec;
  const rows = days.map((day, i) => ({ day, values: series.map((s) => s.values[i] || 0) }));
  const shown = rows.filter((r) => r.values.some((v) => v !== 0));
  return h(
    "table",
    { className: "chart-data" },
    h("caption", {}, `${spec.title}: days with any (UTC)`),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "day"), ...series.map((s) => h("th", { scope: "col" }, s.label)))),
    h(
      "tbody",
      {},
      ...(shown.length ? shown : rows.slice(-1)).map((r) => h("tr", {}, h("td", {}, r.day), ...r.values.map((v) => h("td", {}, format(v))))),
    ),
  );
}

/**
 * A chart as a figure: caption in words, the canvas (hidden from screen readers), a legend, and the numbers behind a toggle.
 * The plot is drawn once the figure has a width (it is usually built before it is in the document) and follows its size.
 * @param {ChartSpec} spec
 * @returns {HTMLElement}
 */
export function timeChart(spec) {
  const { days, series, format } = spec;
  const kind = spec.kind ?? (series.length > 1 ? "lines" : "bars");
  const summary = summarise(spec);
  const plot = h("div", { className: "chart-plot", "aria-hidden": "true" });
  const legend =
    kind === "lines"
      ? h(
          "ul",
          { className: "chart-legend" },
          ...series.map((s, i) =>
            h("li", {}, h("span", { className: "swatch", style: `border-top-color: ${PALETTE[i % PALETTE.length]}; border-top-style: ${DASHES[i % DASHES.length].length ? "dashed" : "solid"}` }), s.label),
          ),
        )
      : null;
  const figure = h(
    "figure",
    { id: spec.id, className: "chart", dataset: { points: String(series.reduce((n, s) => n + s.values.filter((v) => v !== 0).length, 0)) } },
    h("figcaption", {}, h("strong", {}, spec.title), h("span", { className: "chart-summary" }, ` ${summary}`)),
    plot,
    legend,
    h("details", { className: "chart-table" }, h("summary", {}, "Show the numbers"), dataTable(spec)),
  );

  const xs = days.map((d) => Date.parse(`${d}T00:00:00Z`) / 1000);
  /** @type {uPlot.AlignedData} */
  const data = [xs, ...series.map((s) => (kind === "bars" ? s.values.map((v) => v || null) : s.values))]; // no bar at all on an empty day
  /** @type {uPlot | null} */
  let chart = null;
  const height = 200;
  const observer = new ResizeObserver(() => {
    const width = Math.floor(plot.clientWidth);
    if (width <= 0) return;
    if (chart) {
      chart.setSize({ width, height });
      return;
    }
    chart = new uPlot(
      {
        width,
        height,
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
        axes: [
          { stroke: "#57606a", grid: { stroke: "#eaeef2" } },
          {
            stroke: "#57606a",
            grid: { stroke: "#eaeef2" },
            values: (_u, splits) => splits.map((v) => (format === count ? compact(v) : format(v))),
            size: (_u, values) => 16 + 7 * Math.max(3, ...(values ?? []).map((v) => String(v).length)),
          },
        ],
        series: [
          {},
          ...series.map((s, i) => ({
            label: s.label,
            stroke: PALETTE[i % PALETTE.length],
            width: 2,
            dash: kind === "lines" ? DASHES[i % DASHES.length] : undefined,
            fill: kind === "bars" ? `${PALETTE[i % PALETTE.length]}cc` : undefined,
            paths: kind === "bars" ? uPlot.paths.bars?.({ size: [0.7, 40] }) : undefined,
            points: { show: kind === "lines" && days.length <= 31 },
          })),
        ],
      },
      data,
      plot,
    );
  });
  observer.observe(plot);
  return figure;
}
