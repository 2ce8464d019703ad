// @ts-check
/**
 * Project admins: every organisation. Create one (with its first owner, by email), open one (it becomes the
 * organisation selected in the header, and its page is shown), delete one after typing its id.
 */

import { alertBox, field, fill, h, markFields, when } from "../dom.js";

/**
 * @param {import("../main.js").Context} ctx
 * @returns {HTMLElement}
 */
export function orgsPage(ctx) {
  const error = alertBox("orgs-error");
  const status = h("p", { id: "orgs-status", className: "meta", role: "status" }, "Loading…");
  const table = h("table", { id: "orgs-table" });
  const more = /** @type {HTMLButtonElement} */ (h("button", { id: "orgs-more", type: "button", hidden: true, onclick: () => draw(true) }, "More organisations"));
  /** @type {import("../../gateway/types").Org[]} */
  let orgs = [];
  /** @type {string | null | undefined} */
  let next = null;

  /** @param {import("../../gateway/types").Org} o */
  function row(o) {
    const open = h("button", { type: "button", onclick: () => ctx.selectOrg(o.id).then(() => (location.hash = "#/org/settings")) }, "Open");
    const remove = h("button", { type: "button", className: "danger", onclick: () => del(o) }, "Delete");
    return h("tr", { dataset: { org: o.id } }, h("td", {}, o.id), h("td", {}, o.name), h("td", {}, when(o.createdAt)), h("td", { className: "nowrap" }, open, remove));
  }

  /** Deleting takes its members with it: the id must be typed, not merely confirmed. @param {import("../../gateway/types").Org} o */
  async function del(o) {
    const typed = prompt(`Delete the organisation ${o.name} and all its memberships? Type its id (${o.id}) to confirm.`);
    if (typed === null) return;
    if (typed.trim() !== o.id) {
      error.show(new Error(`Not deleted: "${typed}" is not ${o.id}.`));
      return;
    }
    error.show(null);
    try {
      const done = await ctx.gateway.orgs.delete(o.id);
      status.textContent = `${o.name} deleted, with ${done.membersDeleted} membership${done.membersDeleted === 1 ? "" : "s"}.`;
      await ctx.reloadOrgs();
    } catch (err) {
      error.show(err);
    }
    await draw();
  }

  /** @param {boolean} [append]  the next page after those shown */
  async function draw(append = false) {
    try {
      const page = await ctx.gateway.orgs.list({ limit: 100, pageToken: append && next ? next : undefined });
      orgs = append ? [...orgs, ...page.orgs] : page.orgs;
      next = page.nextPageToken;
      fill(
        table,
        h("caption", { className: "visually-hidden" }, "Organisations"),
        h("thead", {}, h("tr", {}, ...["id", "name", "created", "actions"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, ...orgs.map(row)),
      );
      more.hidden = !next;
      if (status.textContent === "Loading…") status.textContent = orgs.length ? `${orgs.length}${next ? "+" : ""} organisation${orgs.length === 1 && !next ? "" : "s"}.` : "No organisations yet.";
    } catch (err) {
      status.textContent = "";
      error.show(err);
    }
  }

  const id = /** @type {HTMLInputElement} */ (h("input", { name: "id", required: true, pattern: "[a-z0-9][a-z0-9-]{1,38}[a-z0-9]", placeholder: "acme", autocomplete: "off" }));
  const name = /** @type {HTMLInputElement} */ (h("input", { name: "name", required: true, placeholder: "Acme Inc." }));
  const owner = /** @type {HTMLInputElement} */ (h("input", { name: "ownerEmail", type: "email", placeholder: "optional: a signed-up user", autocomplete: "off" }));
  const form = /** @type {HTMLFormElement} */ (
    h(
      "form",
      {
        id: "org-create",
        async onsubmit(/** @type {SubmitEvent} */ event) {
          event.preventDefault();
          error.show(null);
          markFields(form, null);
          try {
            const created = await ctx.gateway.orgs.create({ id: id.value.trim(), name: name.value.trim(), ...(owner.value.trim() ? { ownerEmail: owner.value.trim() } : {}) });
            status.textContent = `${created.name} created.`;
            form.reset();
            await ctx.reloadOrgs();
            await draw();
          } catch (err) {
            if (!markFields(form, err)) error.show(err);
          }
        },
      },
      field("Id (lowercase letters, digits, dashes)", id),
      h("div", { className: "grow" }, field("Name", name)),
      h("div", { className: "grow" }, field("Owner's email", owner)),
      h("button", { type: "submit" }, "Create"),
    )
  );

  draw();
  return h("section", { id: "orgs-page" }, h("h2", {}, "Organisations"), h("h3", {}, "New organisation"), form, error.box, status, table, more);
}
