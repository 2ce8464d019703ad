// The numbers behind the usage and dashboard charts: whole windows of days, gaps as zeros, the chart in words,
// and per-model totals that are absent (not zero) when the gateway does not report them.
import assert from "node:assert/strict";
import { test } from "node:test";

import { count, daysBetween, lastDays, modelTotals, perDay, summarise } from "../src/app/series.js";

test("a window is every day, across a month's end", () => {
  assert.deepEqual(daysBetween("2026-02-27", "2026-03-02"), ["2026-02-27", "2026-02-28", "2026-03-01", "2026-03-02"]);
  const { from, to } = lastDays(7);
  assert.equal(daysBetween(from, to).length, 7);
  assert.equal(to, new Date().toISOString().slice(0, 10));
});

test("days without a row are zeros, in the window's order", () => {
  const days = daysBetween("2026-11-01", "2026-11-03");
  assert.deepEqual(perDay(days, [{ date: "2026-11-03", totalTokens: 5 }, { date: "2026-11-01", totalTokens: 2 }], (d) => d.totalTokens), [2, 0, 5]);
});

test("a chart in words: total, days with any, the busiest day, and each series", () => {
  const days = daysBetween("2026-11-01", "2026-11-03");
  const text = summarise({ id: "x", title: "t", days, format: count, series: [{ label: "a", values: [1000, 0, 3] }, { label: "b", values: [0, 0, 2000] }] });
  assert.equal(text, "3,003 in total from 2026-11-01 to 2026-11-03 (UTC); 2 of 3 days with any; the most on 2026-11-03 (2,003); by series: b 2,000, a 1,003.");
  assert.equal(summarise({ id: "x", title: "t", days, format: count, series: [{ label: "a", values: [0, 0, 0] }] }), "Nothing from 2026-11-01 to 2026-11-03 (UTC).");
});

test("per-model totals: summed over the days, largest first; null when no day reports models", () => {
  assert.equal(modelTotals([{ date: "2026-11-01", totalTokens: 3 }]), null);
  assert.equal(modelTotals([{ date: "2026-11-01", totalTokens: 3, models: {} }]), null); // booked before the breakdown existed
  const totals = modelTotals([
    { date: "2026-11-01", models: { a: { requests: 1, totalTokens: 10, cost: 0.5 } } },
    { date: "2026-11-02", models: { a: { requests: 2, totalTokens: 5, cost: 0.25 }, b: { requests: 1, totalTokens: 40, cost: 1 } } },
  ]);
  assert.deepEqual([...(totals ?? [])], [["b", { requests: 1, totalTokens: 40, cost: 1 }], ["a", { requests: 3, totalTokens: 15, cost: 0.75 }]]);
});
