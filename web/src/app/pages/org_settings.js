// @ts-check
/**
 * Org admin: the organisation selected in the header. Its name and default quotas per role (its managers set them),
 * its budgets and shared project-wide models (project admins set them: shown read-only to org managers, as the
 * gateway refuses their change), and what the organisation spent (`GET /usage/org`) against its budgets.
 */

import { count, daysBetween, lastDays, perDay, timeChart } from "../charts.js";
import { alertBox, field, fill, h, markFields, money } from "../dom.js";
import { ORG_ROLES } from "./org_members.js";

/** A number input's value: null when empty. @param {HTMLInputElement} el */
const numberOf = (el) => (el.value.trim() === "" ? null : Number(el.value));

/** @param {string} name @param {number | null | undefined} value @param {Record<string, any>} [props] */
const number = (name, value, props = {}) =>
  /** @type {HTMLInputElement} */ (h("input", { name, type: "number", min: 0, step: "any", inputMode: "decimal", value: value ?? "", ...props }));

/**
 * Spent against a cap, in words and a meter.
 * @param {string} label
 * @param {number} spent
 * @param {number | null | undefined} cap
 */
function budgetLine(label, spent, cap) {
  if (cap === null || cap === undefined) return h("p", {}, `${label}: ${money(spent)} spent (no cap)`);
  const share = cap > 0 ? Math.round((100 * spent) / cap) : 100;
  return h(
    "p",
    { className: "quota" },
    h("span", {}, `${label}: ${money(spent)} of ${money(cap)} (${share}%) `),
    h("meter", { min: 0, max: cap, low: cap * 0.75, high: cap * 0.9, optimum: 0, value: Math.min(spent, cap), "aria-label": `${label}, ${share}% of the cap` }),
  );
}

/**
 * A table of totals, one row each (a model, a member), in words and money.
 * @param {string} id @param {string} caption @param {string} what  the first column's heading
 * @param {Array<{ requests: number, tokens: number, costUsd: number }>} rows @param {(row: any) => string} label
 */
function totalsTable(id, caption, what, rows, label) {
  if (!rows.length) return h("p", { id, className: "meta" }, `${caption}: nothing yet.`);
  return h(
    "table",
    { id },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, ...[what, "Requests", "Tokens", "Cost"].map((k) => h("th", { scope: "col" }, k)))),
    h(
      "tbody",
      {},
      ...rows.map((r) => h("tr", {}, h("td", {}, label(r)), h("td", {}, count(r.requests)), h("td", {}, count(r.tokens)), h("td", {}, money(r.costUsd)))),
    ),
  );
}

/**
 * @param {import("../main.js").Context} ctx
 * @returns {HTMLElement}
 */
export function orgSettingsPage(ctx) {
  const org = /** @type {import("../main.js").OrgChoice} */ (ctx.org);
  const projectAdmin = ctx.role === "admin";
  const error = alertBox("org-error");
  const usageError = alertBox("org-usage-error");
  const saved = h("p", { id: "org-saved", className: "meta", role: "status" });
  const formBox = h("div", { id: "org-form-box" }, h("p", { className: "meta" }, "Loading…"));
  const usageBox = h("div", { id: "org-usage" }, h("p", { className: "meta" }, "Loading…"));

  /** @param {import("../../gateway/types").OrgDetail} detail */
  function settingsForm(detail) {
    const s = detail.settings;
    const readOnly = !projectAdmin;
    const name = /** @type {HTMLInputElement} */ (h("input", { name: "name", required: true, value: detail.name, maxLength: 200 }));
    const daily = number("settings.dailyCostUsd", s.dailyCostUsd, { readOnly });
    const monthly = number("settings.monthlyCostUsd", s.monthlyCostUsd, { readOnly });
    const shared = /** @type {HTMLInputElement} */ (h("input", { name: "settings.sharedModels", value: (s.sharedModels ?? []).join(", "), readOnly, placeholder: "model ids, comma separated" }));
    const quotas = Object.fromEntries(
      ORG_ROLES.map((r) => {
        const q = /** @type {Record<string, any>} */ (s.defaultQuotas ?? {})[r] ?? {};
        return [r, { dailyTokens: number(`settings.defaultQuotas.${r}.dailyTokens`, q.dailyTokens, { step: 1 }), dailyCostUsd: number(`settings.defaultQuotas.${r}.dailyCostUsd`, q.dailyCostUsd) }];
      }),
    );
    const capsNote = readOnly ? " (set by project admins)" : "";
    const form = /** @type {HTMLFormElement} */ (
      h(
        "form",
        { id: "org-form", onsubmit: save },
        h("fieldset", {}, h("legend", {}, "Organisation"), h("p", { className: "meta" }, `Id: ${detail.id}`), field("Name", name)),
        h(
          "fieldset",
          {},
          h("legend", {}, `Budgets${capsNote}`),
          field("Daily cost cap (USD; empty: none)", daily),
          field("Monthly cost cap (USD; empty: none)", monthly),
          field("Project-wide models shared with it", shared),
        ),
        h(
          "fieldset",
          { id: "org-quotas" },
          h("legend", {}, "Default daily quotas per role (empty: no limit of its own)"),
          ...ORG_ROLES.flatMap((r) => [field(`${r}: tokens a day`, quotas[r].dailyTokens), field(`${r}: USD a day`, quotas[r].dailyCostUsd)]),
        ),
        h("button", { type: "submit" }, "Save"),
      )
    );

    /** @param {SubmitEvent} event */
    async function save(event) {
      event.preventDefault();
      error.show(null);
      saved.textContent = "";
      markFields(form, null);
      /** @type {Record<string, { dailyTokens: number | null, dailyCostUsd: number | null }>} */
      const defaultQuotas = {};
      for (const r of ORG_ROLES) {
        const q = { dailyTokens: numberOf(quotas[r].dailyTokens), dailyCostUsd: numberOf(quotas[r].dailyCostUsd) };
        if (q.dailyTokens !== null || q.dailyCostUsd !== null) defaultQuotas[r] = q;
      }
      const settings = {
        ...s,
        dailyCostUsd: numberOf(daily),
        monthlyCostUsd: numberOf(monthly),
        sharedModels: shared.value.split(",").map((m) => m.trim()).filter(Boolean),
        defaultQuotas,
      };
      try {
        await ctx.gateway.orgs.update(detail.id, { name: name.value, settings: /** @type {any} */ (settings) });
        saved.textContent = "Saved.";
        if (name.value !== detail.name) await ctx.reloadOrgs(); // the switcher shows the new name
      } catch (err) {
        if (!markFields(form, err)) error.show(err);
      }
    }
    return form;
  }

  const detail = ctx.gateway.orgs.get(org.id); // the form's, and the members' emails for the usage by member
  detail.catch(() => {}); // shown by loadSettings

  async function loadSettings() {
    try {
      fill(formBox, settingsForm(await detail));
    } catch (err) {
      fill(formBox);
      error.show(err);
    }
  }

  async function loadUsage() {
    try {
      const report = await ctx.gateway.usageOrg(); // the gateway's default window: the last 30 days
      const emails = new Map((await detail.catch(() => null))?.members?.map((m) => [m.uid, m.email]) ?? []);
      const rows = report.days ?? [];
      const first = rows.map((d) => d.date).sort()[0];
      const range = lastDays(30);
      const days = daysBetween(first && first < range.from ? first : range.from, range.to);
      const total = rows.reduce((t, d) => ({ requests: t.requests + (d.requests ?? 0), tokens: t.tokens + (d.tokens ?? 0), cost: t.cost + (d.costUsd ?? 0) }), { requests: 0, tokens: 0, cost: 0 });
      fill(
        usageBox,
        h("h3", {}, "Budgets"),
        budgetLine("Today", report.budget?.spentTodayUsd ?? 0, report.budget?.dailyCostUsd),
        budgetLine("This month", report.budget?.spentMonthUsd ?? 0, report.budget?.monthlyCostUsd),
        h("p", { id: "org-usage-totals" }, `${count(total.requests)} requests, ${count(total.tokens)} tokens, ${money(total.cost)} from ${days[0]} to ${days[days.length - 1]} (UTC).`),
        h(
          "div",
          { className: "charts" },
          timeChart({ id: "org-cost-chart", title: "Cost per day", days, series: [{ label: "cost", values: perDay(days, rows, (d) => d.costUsd ?? 0) }], format: (n) => money(n) }),
          timeChart({ id: "org-tokens-chart", title: "Tokens per day", days, series: [{ label: "tokens", values: perDay(days, rows, (d) => d.tokens ?? 0) }], format: count }),
        ),
        totalsTable("org-by-model", "By model", "Model", report.byModel ?? [], (r) => r.modelId),
        totalsTable("org-by-member", "By member", "Member", report.byMember ?? [], (r) => emails.get(r.uid) ?? r.uid),
      );
    } catch (err) {
      fill(usageBox);
      usageError.show(err);
    }
  }

  loadSettings();
  loadUsage();
  return h(
    "section",
    { id: "org-page" },
    h("h2", {}, org.name),
    error.box,
    saved,
    formBox,
    h("h2", {}, "Usage"),
    usageError.box,
    usageBox,
  );
}
