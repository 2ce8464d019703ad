// @ts-check
/**
 * Admin: the audit trail (Firestore `audit/`, which the rules let admins only read): who changed what, when,
 * field by field, newest first, a page at a time.
 *
 * Who: the email the gateway stored with the record (the caller's, when the API made the change). Records
 * written before it kept emails name a uid; the page names it too when another record, or the admin's own
 * account, tells its email. Console edits have no person: the Firestore console does not say who.
 */

import { collection, getDocs, limit, orderBy, query, startAfter } from "firebase/firestore";

import { diff, show } from "../diff.js";
import { alertBox, fill, h, when } from "../dom.js";

const PAGE = 25;

/**
 * @param {Record<string, any>} a  the record
 * @param {Map<string, string>} emails  uid -> email, as far as known
 */
function who(a, emails) {
  if (a.actorEmail) return h("span", { className: "actor", title: a.actor }, a.actorEmail);
  if (a.actor === "console") return h("span", { className: "actor" }, "Firestore console (person not recorded)");
  const known = emails.get(a.actor);
  if (known) return h("span", { className: "actor", title: a.actor }, known);
  return h("span", { className: "actor meta" }, `${a.actor} (no email recorded)`);
}

/** @param {Record<string, any>} a */
function changes(a) {
  const lines = diff(a.before, a.after);
  if (!lines.length) return h("span", { className: "meta" }, "no field changed");
  const list = h(
    "ul",
    { className: "diff" },
    ...lines.map((c) =>
      h(
        "li",
        { dataset: { path: c.path } },
        h("code", {}, c.path),
        ": ",
        c.hidden ? h("span", { className: "meta" }, "changed (value not shown)") : h("span", {}, h("del", {}, show(c.old)), " → ", h("ins", {}, show(c.new))),
      ),
    ),
  );
  // A whole document created or deleted is many lines: folded, so the updates between stay easy to scan.
  if (a.action !== "update" && lines.length > 3) return h("details", {}, h("summary", {}, `${lines.length} fields`), list);
  return list;
}

/**
 * @param {import("../main.js").Context} ctx
 * @returns {HTMLElement}
 */
export function auditPage(ctx) {
  const head = h("tr", {}, ...["when", "who", "action", "document", "via", "changes"].map((t) => h("th", {}, t)));
  const table = h("table", { id: "audit-table" }, head);
  const error = alertBox("audit-error");
  const count = h("p", { id: "audit-count", className: "meta", "aria-live": "polite" });
  const more = /** @type {HTMLButtonElement} */ (h("button", { id: "audit-more", type: "button", hidden: true, onclick: () => load(false) }, "Load more"));
  /** @type {Map<string, string>} */
  const emails = new Map(ctx.user.email ? [[ctx.user.uid, ctx.user.email]] : []);
  /** @type {import("firebase/firestore").QueryDocumentSnapshot | null} */
  let last = null;
  let shown = 0;
  let busy = false;

  /** @param {boolean} fresh  start again from the newest */
  async function load(fresh) {
    if (busy) return;
    busy = true;
    more.disabled = true;
    error.show(null);
    try {
      const page = [orderBy("at", "desc"), ...(!fresh && last ? [startAfter(last)] : []), limit(PAGE)];
      const snap = await getDocs(query(collection(ctx.db, "audit"), ...page));
      if (fresh) {
        fill(table, head);
        shown = 0;
      }
      for (const doc of snap.docs) if (doc.get("actorEmail")) emails.set(doc.get("actor"), doc.get("actorEmail"));
      for (const doc of snap.docs) {
        const a = doc.data();
        const at = a.at?.toDate?.();
        table.append(
          h(
            "tr",
            { dataset: { record: doc.id, doc: `${a.collection}/${a.docId}` } },
            h("td", { className: "nowrap" }, at ? h("time", { dateTime: at.toISOString() }, when(at)) : "–"),
            h("td", {}, who(a, emails)),
            h("td", { className: "nowrap" }, a.action),
            h("td", {}, h("code", {}, `${a.collection}/${a.docId}`)),
            h("td", { className: "nowrap" }, a.via ?? ""),
            h("td", {}, changes(a)),
          ),
        );
      }
      shown += snap.docs.length;
      last = snap.docs.at(-1) ?? last;
      more.hidden = snap.docs.length < PAGE;
      count.textContent = shown ? `${shown} records, newest first${more.hidden ? " (all of them)" : ""}` : "No changes recorded yet.";
    } catch (err) {
      error.show(err);
    } finally {
      busy = false;
      more.disabled = false;
    }
  }

  load(true);
  return h(
    "section",
    { id: "audit-page" },
    h("h2", {}, "Audit trail"),
    h("button", { type: "button", onclick: () => load(true) }, "Refresh"),
    error.box,
    count,
    table,
    more,
  );
}
