// @ts-check
/** The numbers behind the charts, without the drawing: whole windows of days, values per day, and a chart in words. */

/**
 * @typedef {object} Series
 * @property {string} label
 * @property {number[]} values  one per day, aligned with the chart's `days`
 */

/**
 * @typedef {object} ChartSpec
 * @property {string} id  the figure's id
 * @property {string} title  what is plotted, e.g. "Tokens per day"
 * @property {string[]} days  YYYY-MM-DD (UTC), every day of the window
 * @property {Series[]} series
 * @property {(n: number) => string} format  how a value reads (axis, table, summary)
 * @property {"bars" | "lines"} [kind]  bars for a single total, lines to compare series
 */

/**
 * Every day from `from` to `to` inclusive (UTC dates, YYYY-MM-DD).
 * @param {string} from
 * @param {string} to
 */
export function daysBetween(from, to) {
  const out = [];
  for (let t = Date.parse(`${from}T00:00:00Z`), end = Date.parse(`${to}T00:00:00Z`); t <= end; t += 86_400_000) {
    out.push(new Date(t).toISOString().slice(0, 10));
  }
  return out;
}

/**
 * The window ending today (UTC): the last `n` days.
 * @param {number} n
 * @returns {{ from: string, to: string }}
 */
export function lastDays(n) {
  const to = new Date().toISOString().slice(0, 10);
  const from = new Date(Date.parse(`${to}T00:00:00Z`) - (n - 1) * 86_400_000).toISOString().slice(0, 10);
  return { from, to };
}

/**
 * A value per day of `days` from rows that carry a `date` (days without a row are 0).
 * @param {string[]} days
 * @param {Array<{ date: string } & Record<string, any>>} rows
 * @param {(row: any) => number} pick
 */
export function perDay(days, rows, pick) {
  const byDate = new Map(rows.map((row) => [row.date, row]));
  return days.map((day) => {
    const row = byDate.get(day);
    return row ? Number(pick(row)) || 0 : 0;
  });
}

/** Whole numbers as people read them: 12,345. @param {number} n */
export function count(n) {
  return Math.round(n).toLocaleString("en-US");
}

/** "1 request", "2 requests". @param {number} n @param {string} noun */
export function plural(n, noun) {
  return `${count(n)} ${noun}${n === 1 ? "" : "s"}`;
}

/** Axis labels: 1.2k, 3.4M. @param {number} n */
export function compact(n) {
  return new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 }).format(n);
}

/**
 * The chart in words: the total, the busiest day, and how many days had any.
 * @param {ChartSpec} spec
 */
export function summarise(spec) {
  const { days, series, format } = spec;
  if (days.length === 0) return "No days in this window.";
  const daily = days.map((_, i) => series.reduce((sum, s) => sum + (s.values[i] || 0), 0));
  const total = daily.reduce((a, b) => a + b, 0);
  const span = `${days[0]} to ${days[days.length - 1]} (UTC)`;
  if (total === 0) return `Nothing from ${span}.`;
  const peak = daily.indexOf(Math.max(...daily));
  const active = daily.filter((v) => v > 0).length;
  const parts = [`${format(total)} in total from ${span}`, `${active} of ${days.length} days with any`, `the most on ${days[peak]} (${format(daily[peak])})`];
  if (series.length > 1 || spec.kind === "lines") {
    const ranked = series.map((s) => ({ label: s.label, sum: s.values.reduce((a, b) => a + b, 0) })).sort((a, b) => b.sum - a.sum);
    parts.push(`by series: ${ranked.map((s) => `${s.label} ${format(s.sum)}`).join(", ")}`);
  }
  return `${parts.join("; ")}.`;
}


/**
 * Per-model totals over the window from the days' `models` maps (null when no day has any: not reported).
 * @param {Array<Record<string, any>>} days
 * @returns {Map<string, { requests: number, totalTokens: number, cost: number }> | null}
 */
export function modelTotals(days) {
  // An older gateway sends no `models`; days booked before the breakdown existed send `{}`: neither is a zero.
  if (!days.some((d) => d.models && typeof d.models === "object" && Object.keys(d.models).length > 0)) return null;
  /** @type {Map<string, { requests: number, totalTokens: number, cost: number }>} */
  const out = new Map();
  for (const day of days) {
    for (const [model, row] of Object.entries(day.models ?? {})) {
      const sum = out.get(model) ?? { requests: 0, totalTokens: 0, cost: 0 };
      sum.requests += row?.requests ?? 0;
      sum.totalTokens += row?.totalTokens ?? 0;
      sum.cost += row?.cost ?? 0;
      out.set(model, sum);
    }
  }
  return new Map([...out].sort((a, b) => b[1].totalTokens - a[1].totalTokens));
}
