// @ts-check
/**
 * The chat page's conversation sidebar, kept live by a Firestore listener on the caller's own
 * `users/{uid}/conversations` (firestore.rules lets only the owner read them), newest first.
 *
 * "More conversations" widens the one listener (its limit grows by a page) rather than adding a
 * second query, so older pages stay live too. The query asks for one more document than it shows:
 * that one says whether there is more.
 *
 * A listener that fails (rules, network, an emulator reset) is not the page's failure: the list
 * keeps what it showed, says quietly that it is not up to date, and listens again after a backoff
 * (or at once with "Retry"). `stop()` must be called when the page is left: an open listener on a
 * page that goes away abruptly is what the Firestore emulator handles worst (see main.js, `leave`).
 *
 * Renames and deletes go through the gateway (only it writes conversations); the listener then
 * shows them in every tab.
 *
 * Only the conversations of the selected organisation are listed (`org`: the query filters on the
 * `org` each conversation records, with a composite index in firestore.indexes.json). With none
 * selected, those with no organisation: conversations stored before organisations have no `org`
 * field, which a `== null` filter would miss, so they are filtered here instead.
 */

import { collection, limit, onSnapshot, orderBy, query, where } from "firebase/firestore";

import { describe, h } from "./dom.js";

/** Conversations added to the list at a time. */
export const PAGE = 50;

/** Sidebar listeners open in this tab; the browser tests read it (`window.chatListeners`) to see that leaving stops them. */
let listening = 0;
/** @param {number} change */
function count(change) {
  listening += change;
  /** @type {any} */ (window).chatListeners = listening;
}

/** Waits before listening again after a failure, in seconds (the last one repeats). */
const BACKOFF = [1, 2, 5, 10, 30];

/**
 * @typedef {object} SidebarOptions
 * @property {import("firebase/firestore").Firestore} db
 * @property {string} uid
 * @property {string | null} [org]  the organisation selected in the header: only its conversations are listed (null: those
 *   in no organisation, which includes every conversation kept before organisations)
 * @property {import("../gateway/index.js").Gateway} gateway
 * @property {(id: string) => void} onOpen      a conversation was chosen
 * @property {(id: string) => void} onDeleted   a conversation was deleted from this tab
 * @property {(err: unknown) => void} onError   a delete failed (the page's own alert says it)
 */

/**
 * @param {SidebarOptions} options
 */
export function conversationSidebar({ db, uid, org = null, gateway, onOpen, onDeleted, onError }) {
  const list = h("ul", { id: "chat-conversations" });
  const more = /** @type {HTMLButtonElement} */ (h("button", { id: "chat-more", type: "button", hidden: true }, "More conversations"));
  const retry = h("button", { id: "chat-list-retry", type: "button" }, "Retry");
  const status = h("p", { id: "chat-list-status", className: "meta", role: "status", hidden: true }, h("span"), " ", retry);

  /** @type {Map<string, ReturnType<typeof item>>} */
  const items = new Map();
  /** How many conversations the list shows (grows by a page with "More conversations"). */
  let shown = PAGE;
  let open = /** @type {string | null} */ (null);
  /** @type {(() => void) | null} */
  let unsubscribe = null;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  let failures = 0;
  let stopped = false;

  /** Stop the current listener, if any. */
  function unlisten() {
    if (!unsubscribe) return;
    unsubscribe();
    unsubscribe = null;
    count(-1);
  }

  function listen() {
    clearTimeout(timer);
    unlisten();
    if (stopped) return;
    const all = collection(db, "users", uid, "conversations");
    // An organisation's: by its `org` (an index of org and updatedAt, firestore.indexes.json). None: the older ones have
    // no `org` at all, which no query can ask for, so those of an organisation are left out here instead.
    const mine = org
      ? query(all, where("org", "==", org), orderBy("updatedAt", "desc"), limit(shown + 1))
      : query(all, orderBy("updatedAt", "desc"), limit(shown + 1));
    count(+1);
    unsubscribe = onSnapshot(mine, {
      next(snapshot) {
        failures = 0;
        status.hidden = true;
        const docs = snapshot.docs.slice(0, shown).filter((d) => (d.get("org") ?? null) === org);
        draw(docs.map((d) => ({ id: d.id, title: String(d.get("title") ?? "") })));
        more.hidden = snapshot.size <= shown;
        // Loaded once the server has answered (a first answer from the cache may be partial).
        if (!snapshot.metadata.fromCache) list.dataset.loaded = "true";
      },
      error(err) {
        unlisten(); // a failed listener is already stopped by the SDK; this only forgets it
        const wait = BACKOFF[Math.min(failures, BACKOFF.length - 1)];
        failures += 1;
        status.hidden = false;
        status.dataset.code = err.code;
        /** @type {HTMLElement} */ (status.firstChild).textContent = `Conversation list not up to date (${describe(err)}); trying again in ${wait} s.`;
        timer = setTimeout(listen, wait * 1000);
      },
    });
  }

  /**
   * Show `conversations` in this order, reusing each one's element: a title being renamed keeps its
   * input (and the focus) while other conversations come, go or move.
   * @param {Array<{ id: string, title: string }>} conversations
   */
  function draw(conversations) {
    const keep = new Set(conversations.map((c) => c.id));
    for (const [id, entry] of items) {
      if (!keep.has(id)) {
        entry.node.remove();
        items.delete(id);
      }
    }
    conversations.forEach((c, index) => {
      let entry = items.get(c.id);
      if (!entry) items.set(c.id, (entry = item(c.id)));
      entry.setTitle(c.title);
      const at = list.children[index];
      if (at !== entry.node) list.insertBefore(entry.node, at ?? null);
    });
    markOpen(open);
  }

  /** One conversation: open, rename, delete. @param {string} id */
  function item(id) {
    let title = "";
    const openButton = h("button", { type: "button", className: "open", onclick: () => onOpen(id) });
    const renameButton = h("button", { type: "button", className: "rename", title: "Rename", onclick: edit }, "✎");
    const deleteButton = h("button", { type: "button", className: "delete", title: "Delete", onclick: remove }, "×");
    const row = h("div", { className: "row" }, openButton, renameButton, deleteButton);
    const node = h("li", { dataset: { conversation: id } }, row);
    /** @type {HTMLFormElement | null} */
    let form = null;

    /** @param {string} value */
    function setTitle(value) {
      if (value === title) return;
      title = value;
      openButton.textContent = value;
      openButton.title = value;
      renameButton.setAttribute("aria-label", `Rename “${value}”`);
      deleteButton.setAttribute("aria-label", `Delete “${value}”`);
    }

    function edit() {
      if (form) return;
      const inputId = `rename-${id}`;
      const errorId = `rename-error-${id}`;
      const input = /** @type {HTMLInputElement} */ (
        h("input", { id: inputId, name: "title", value: title, maxLength: 200, required: true, autocomplete: "off", "aria-describedby": errorId })
      );
      const save = /** @type {HTMLButtonElement} */ (h("button", { type: "submit" }, "Save"));
      const problem = h("p", { id: errorId, className: "alert", role: "alert", hidden: true });
      const editor = /** @type {HTMLFormElement} */ (
        h(
          "form",
          { className: "rename-form", noValidate: true, onsubmit: submit },
          h("label", { htmlFor: inputId, className: "chat-sr-only" }, `New title for “${title}”`),
          input,
          h("div", { className: "row" }, save, h("button", { type: "button", onclick: () => close(true) }, "Cancel")),
          problem,
        )
      );
      form = editor;
      input.addEventListener("keydown", (event) => {
        if (event.key === "Escape") {
          event.preventDefault();
          close(true);
        }
      });
      row.hidden = true;
      node.append(editor);
      input.select();
      input.focus();

      /** @param {SubmitEvent} event */
      async function submit(event) {
        event.preventDefault();
        save.disabled = true;
        problem.hidden = true;
        input.removeAttribute("aria-invalid");
        try {
          const renamed = await gateway.conversations.rename(id, input.value);
          setTitle(renamed.title); // the listener says it too, in every tab
          close(true);
        } catch (err) {
          problem.textContent = describe(err);
          problem.hidden = false;
          input.setAttribute("aria-invalid", "true");
          input.focus();
        } finally {
          save.disabled = false;
        }
      }
    }

    /** @param {boolean} refocus */
    function close(refocus) {
      form?.remove();
      form = null;
      row.hidden = false;
      if (refocus) renameButton.focus();
    }

    async function remove() {
      try {
        await gateway.conversations.delete(id);
        // A keyboard user stays in the list: on the next conversation's (else the previous one's) delete button.
        const neighbour = /** @type {HTMLElement | null} */ ((node.nextElementSibling ?? node.previousElementSibling)?.querySelector("button.delete") ?? null);
        const hadFocus = node.contains(document.activeElement);
        node.remove(); // at once in this tab; the listener confirms it (and tells the others)
        items.delete(id);
        onDeleted(id);
        if (hadFocus) neighbour?.focus();
      } catch (err) {
        onError(err);
      }
    }

    return { node, setTitle, openButton };
  }

  /** Mark the open conversation. @param {string | null} id */
  function markOpen(id) {
    open = id;
    for (const [key, entry] of items) {
      if (key === id) entry.openButton.setAttribute("aria-current", "true");
      else entry.openButton.removeAttribute("aria-current");
    }
  }

  more.addEventListener("click", () => {
    shown += PAGE;
    listen();
  });
  retry.addEventListener("click", () => {
    failures = 0;
    status.hidden = true;
    listen();
  });

  listen();

  return {
    list,
    more,
    status,
    markOpen,
    /** Stop listening (the page is left, the user signs out, the tab closes). */
    stop() {
      stopped = true;
      clearTimeout(timer);
      unlisten();
    },
  };
}
