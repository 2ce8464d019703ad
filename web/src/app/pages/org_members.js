// @ts-check
/**
 * Org admin: the members of the organisation selected in the header. Invite by email (with a role), change a role,
 * set a member's own daily limits, remove. The gateway is the judge: only an owner may grant `owner`, the last owner
 * stays; its refusals are shown in words next to what was tried.
 */

import { alertBox, field, fill, h, markFields } from "../dom.js";
import { GatewayError } from "../../gateway/index.js";

export const ORG_ROLES = ["owner", "admin", "member", "viewer"];

/** @typedef {import("../../gateway/types").Member & { quota?: { dailyTokens?: number | null, dailyCostUsd?: number | null } | null }} Member */

/**
 * A refusal in words a manager can act on: the API's message, with what to do for the two rules people meet.
 * @param {unknown} err
 */
export function refusal(err) {
  if (!(err instanceof GatewayError)) return err;
  if (err.status === 409 && err.details?.reason === "lastOwner") {
    return new Error(`${err.message}. An organisation always keeps an owner: make someone else owner first, then change or remove this one.`);
  }
  if (err.status === 403 && err.fields.includes("role")) {
    return new Error(`Only an owner may make someone an owner (${err.message}).`);
  }
  return err;
}

/** A number input's value: null when empty. @param {HTMLInputElement} el */
const numberOf = (el) => (el.value.trim() === "" ? null : Number(el.value));

/**
 * @param {import("../main.js").Context} ctx
 * @returns {HTMLElement}
 */
export function membersPage(ctx) {
  const org = /** @type {import("../main.js").OrgChoice} */ (ctx.org);
  const error = alertBox("members-error");
  const table = h("table", { id: "members-table" });
  const status = h("p", { id: "members-status", className: "meta", role: "status" }, "Loading…");
  /** Owners may grant owner; org admins are offered the other roles only (the gateway refuses the rest anyway). */
  const grantable = org.role === "owner" ? ORG_ROLES : ORG_ROLES.filter((r) => r !== "owner");

  /** Run a call, report its refusal in words, then redraw. @param {() => Promise<unknown>} call @param {string} done */
  async function act(call, done) {
    error.show(null);
    try {
      await call();
      status.textContent = done;
    } catch (err) {
      error.show(refusal(err));
    }
    await draw();
  }

  /** @param {Member} m */
  function row(m) {
    const label = m.email ?? m.uid;
    const role = /** @type {HTMLSelectElement} */ (
      h(
        "select",
        { name: "role", "aria-label": `role of ${label}`, onchange: () => act(() => ctx.gateway.orgs.members.update(org.id, m.uid, /** @type {any} */ (role.value)), `${label} is now ${role.value}.`) },
        // The member's own role is always shown, even one this manager may not grant.
        ...ORG_ROLES.filter((r) => grantable.includes(r) || r === m.role).map((r) => h("option", { value: r, selected: r === m.role }, r)),
      )
    );
    const tokens = /** @type {HTMLInputElement} */ (h("input", { type: "number", min: 0, step: 1, inputMode: "numeric", name: "quota.dailyTokens", value: m.quota?.dailyTokens ?? "", "aria-label": `daily tokens of ${label}`, placeholder: "role default" }));
    const cost = /** @type {HTMLInputElement} */ (h("input", { type: "number", min: 0, step: "any", inputMode: "decimal", name: "quota.dailyCostUsd", value: m.quota?.dailyCostUsd ?? "", "aria-label": `daily cost in USD of ${label}`, placeholder: "role default" }));
    const saveQuota = () =>
      act(() => {
        const quota = { dailyTokens: numberOf(tokens), dailyCostUsd: numberOf(cost) };
        return ctx.gateway.orgs.members.patch(org.id, m.uid, { quota: quota.dailyTokens === null && quota.dailyCostUsd === null ? null : quota });
      }, `Limits of ${label} saved.`);
    const quota = h(
      "form",
      { className: "quota-form", onsubmit: (/** @type {Event} */ e) => (e.preventDefault(), saveQuota()) },
      h("label", {}, "tokens a day ", tokens),
      h("label", {}, "USD a day ", cost),
      h("button", { type: "submit" }, "Save limits"),
    );
    const remove = h(
      "button",
      { type: "button", className: "danger", onclick: () => confirm(`Remove ${label} from ${org.name}?`) && act(() => ctx.gateway.orgs.members.remove(org.id, m.uid), `${label} removed.`) },
      m.uid === ctx.user.uid ? "Leave" : "Remove",
    );
    return h("tr", { dataset: { member: m.uid, email: m.email ?? "" } }, h("td", {}, label), h("td", {}, role), h("td", {}, quota), h("td", {}, remove));
  }

  async function draw() {
    try {
      /** @type {Member[]} */
      const members = [];
      let pageToken = /** @type {string | null | undefined} */ (undefined);
      do {
        const page = await ctx.gateway.orgs.members.list(org.id, { limit: 500, pageToken: pageToken ?? undefined });
        members.push(...page.members);
        pageToken = page.nextPageToken;
      } while (pageToken);
      fill(
        table,
        h("caption", {}, `Members of ${org.name}`),
        h("thead", {}, h("tr", {}, ...["email", "role", "own daily limits (empty: the role's default)", "actions"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, ...members.map(row)),
      );
      if (status.textContent === "Loading…") status.textContent = `${members.length} member${members.length === 1 ? "" : "s"}.`;
    } catch (err) {
      status.textContent = "";
      error.show(err);
    }
  }

  const email = /** @type {HTMLInputElement} */ (h("input", { name: "email", type: "email", required: true, autocomplete: "off", placeholder: "someone@example.com" }));
  const role = /** @type {HTMLSelectElement} */ (h("select", { name: "role" }, ...grantable.map((r) => h("option", { value: r, selected: r === "member" }, r))));
  const invite = /** @type {HTMLFormElement} */ (
    h(
      "form",
      {
        id: "invite-form",
        async onsubmit(/** @type {SubmitEvent} */ event) {
          event.preventDefault();
          error.show(null);
          markFields(invite, null);
          try {
            const added = await ctx.gateway.orgs.members.add(org.id, { email: email.value.trim(), role: /** @type {any} */ (role.value) });
            status.textContent = `${added.email ?? email.value} added as ${added.role}.`;
            invite.reset();
            await draw();
          } catch (err) {
            if (!markFields(invite, err)) error.show(refusal(err));
          }
        },
      },
      h("div", { className: "grow" }, field("Email of a signed-up user", email)),
      field("Role", role),
      h("button", { type: "submit" }, "Invite"),
    )
  );

  draw();
  return h(
    "section",
    { id: "members-page" },
    h("h2", {}, `Members of ${org.name}`),
    h("p", { className: "meta" }, `Your role here: ${org.role}. Owners and admins manage members; only an owner may make someone an owner.`),
    h("h3", {}, "Invite"),
    invite,
    error.box,
    status,
    table,
    h("p", { className: "meta", id: "members-money" }, "A member's own limits override their role's default quota; the organisation's budget still applies. Spend per member is on the ", h("a", { href: "#/org/settings" }, "Organisation"), " page."),
  );
}
