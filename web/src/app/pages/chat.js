// @ts-check
/**
 * Chat: a thread of turns (the user's message stays, the answer streams below it as Markdown),
 * stored as a conversation by the gateway (`saveHistory`), listed in a sidebar and reopened from
 * the URL (`#/chat/<conversationId>`).
 *
 * The sidebar is live (a Firestore listener, ../conversation_list.js): a conversation started,
 * renamed or deleted in another tab shows here without a reload. Its listener stops when the page
 * is left (`ctx.onLeave`).
 *
 * Laid out like the chat apps people know (chat.css): the composer stays at the bottom of the window
 * while the thread scrolls, the newest answer is followed as it streams unless the reader scrolled up,
 * and on a phone the conversation list folds behind a "Conversations" button.
 */

import "../chat.css";

import { ToolCalls, finishWords, renderAnswer, toolCallsBlock } from "../answer_parts.js";
import { attachControl, thumbnails, upload } from "../attachments.js";
import { composerOptions } from "../composer_options.js";
import { conversationSidebar } from "../conversation_list.js";
import { alertBox, fill, h, money } from "../dom.js";
import { loadModels, modelStatus } from "../model_picker.js";

export { loadModels };

/** @typedef {import("../../gateway/types").ConversationMessage} ConversationMessage */

/** The conversation named by the URL: `#/chat/<id>`. */
function conversationInUrl() {
  const match = location.hash.match(/^#\/?chat\/([A-Za-z0-9_-]+)$/);
  return match ? match[1] : null;
}

/** @param {string | null} id */
function showInUrl(id) {
  // replaceState, not location.hash: a hashchange would make main.js draw the page again.
  history.replaceState(null, "", id ? `#/chat/${id}` : "#/chat");
}

/** Within this many pixels of the end, the reader is "at the bottom": a streaming answer is followed. */
const FOLLOW_SLACK = 80;

/** Whether the window is scrolled to (near) the end of the page. */
function atBottom() {
  const page = document.scrollingElement ?? document.documentElement;
  return page.scrollHeight - (page.scrollTop + window.innerHeight) <= FOLLOW_SLACK;
}

/** Scroll the window to the end of the page (the thread's end sits just above the docked composer). */
function toBottom() {
  const page = document.scrollingElement ?? document.documentElement;
  window.scrollTo({ top: page.scrollHeight });
}

/** Roles that may generate (generate_text's): a viewer reads only. */
const CAN_GENERATE = new Set(["user", "admin"]);

/**
 * @param {string} text
 * @param {File[]} [images]  shown under the text
 */
function userTurn(text, images = []) {
  return h(
    "article",
    { className: "msg user", dataset: { role: "user" }, "aria-label": "You" },
    h("div", { className: "body" }, text),
    images.length ? thumbnails(images) : null,
  );
}

/** What a viewer sees instead of the composer. @param {string} role */
function readOnlyNote(role) {
  return h(
    "p",
    { id: "chat-readonly", className: "notice", role: "note" },
    `You are signed in as ${role === "viewer" ? "a viewer" : `“${role}”`}: you can read your conversations, but only users and admins can send messages. Ask an admin for the user role to chat.`,
  );
}

/** An assistant turn: its Markdown body, a line of metadata and its actions. */
function assistantTurn() {
  const body = h("div", { className: "body markdown" });
  const meta = h("p", { className: "meta" });
  const actions = h("div", { className: "actions" });
  const node = h("article", { className: "msg assistant", dataset: { role: "assistant" }, "aria-label": "Assistant" }, body, meta, actions);
  return { node, body, meta, actions };
}

/**
 * @param {{ modelId?: string | null, finishReason?: string | null, usage?: { totalTokens?: number | null } | null, cost?: { total?: number | null } | number | null, latencyMs?: number | null }} info
 */
function metaLine(info) {
  const tokens = info.usage?.totalTokens ?? "?";
  const cost = typeof info.cost === "number" ? info.cost : info.cost?.total;
  const parts = [info.modelId ?? "?"];
  if (info.finishReason !== undefined) parts.push(finishWords(info.finishReason)); // a stored message has none
  parts.push(`${tokens} tokens`, money(cost));
  if (info.latencyMs !== undefined && info.latencyMs !== null) parts.push(`${info.latencyMs} ms`);
  return parts.join(" · ");
}

/**
 * @param {import("../main.js").Context} ctx
 * @returns {HTMLElement}
 */
export function chatPage(ctx) {
  const select = /** @type {HTMLSelectElement} */ (h("select", { id: "chat-model", "aria-label": "Model" }));
  const prompt = /** @type {HTMLTextAreaElement} */ (
    h("textarea", { id: "chat-prompt", rows: 2, placeholder: "Ask something (Enter sends, Shift+Enter for a new line)", "aria-label": "Message" })
  );
  const send = /** @type {HTMLButtonElement} */ (h("button", { id: "chat-send", type: "submit" }, "Send"));
  const stop = /** @type {HTMLButtonElement} */ (h("button", { id: "chat-stop", type: "button", disabled: true }, "Stop"));
  const regenerate = /** @type {HTMLButtonElement} */ (h("button", { id: "chat-regenerate", type: "button" }, "Regenerate"));
  const thread = h("div", { id: "chat-thread", className: "thread" });
  // Announced once per answer (when it is complete), never per token.
  const status = h("p", { id: "chat-status", className: "chat-sr-only", role: "status", "aria-live": "polite", "aria-atomic": "true" });
  const newChat = h("button", { id: "chat-new", type: "button" }, "New chat");
  // On a phone the list folds behind this button (chat.css hides the button on wider screens, where the list always shows).
  const toggle = /** @type {HTMLButtonElement} */ (
    h("button", { id: "chat-sidebar-toggle", className: "chat-toggle", type: "button", "aria-expanded": "false", "aria-controls": "chat-sidebar" }, "Conversations")
  );
  const error = alertBox("chat-error");
  const canSend = CAN_GENERATE.has(ctx.role);
  const attach = attachControl((message) => error.show(message === null ? null : new Error(message)));
  const options = composerOptions();
  const sidebar = conversationSidebar({
    db: ctx.db,
    uid: ctx.user.uid,
    org: ctx.org?.id ?? null,
    gateway: ctx.gateway,
    onOpen: (id) => {
      fold(false);
      open(id);
    },
    onDeleted: (id) => id === conversationId && startNew(),
    onError: (err) => error.show(err),
  });
  /** Whether the reader is following the end of the thread: scrolling up to read stops it, back to the end resumes it. */
  let follow = true;
  const onScroll = () => {
    follow = atBottom();
  };
  window.addEventListener("scroll", onScroll, { passive: true });
  // A reader reaching up (wheel, touch, keys) stops following at once, before their scroll lands: a chunk drawn
  // in between must not pull them back down. The scroll that follows decides again where they are.
  /** @param {Event} e */
  const onReachUp = (e) => {
    if (e instanceof WheelEvent && e.deltaY >= 0) return;
    if (e instanceof KeyboardEvent) {
      if (!["PageUp", "Home", "ArrowUp"].includes(e.key)) return;
      if (e.target instanceof Element && e.target.closest("textarea, input, select")) return;
    }
    follow = false;
  };
  const reachUp = /** @type {const} */ (["wheel", "touchmove", "keydown"]);
  for (const type of reachUp) window.addEventListener(type, onReachUp, { passive: true });
  // The docked composer sits just above the fixed status bar, whose height depends on how its line wraps.
  const statusBar = document.getElementById("status");
  const measure = new ResizeObserver(() => page.style.setProperty("--status-bar", `${statusBar?.offsetHeight ?? 0}px`));
  if (statusBar) measure.observe(statusBar);
  ctx.onLeave(() => {
    sidebar.stop();
    running?.abort();
    window.removeEventListener("scroll", onScroll);
    for (const type of reachUp) window.removeEventListener(type, onReachUp);
    measure.disconnect();
  });
  const form = /** @type {HTMLFormElement} */ (
    h(
      "form",
      { id: "chat-composer", className: "composer", onsubmit: submit },
      prompt,
      h("div", { className: "composer-bar" }, h("div", { className: "composer-tools" }, attach.box, options.box), h("div", { className: "composer-send" }, stop, send)),
    )
  );
  /** The message box grows with its text, up to a third of the window (then it scrolls). */
  function grow() {
    prompt.style.height = "auto";
    prompt.style.height = `${Math.min(prompt.scrollHeight + 2, Math.round(window.innerHeight / 3))}px`;
  }
  prompt.addEventListener("input", grow);
  /** The models the picker offers (callable ones). @type {import("../../gateway/types").Model[]} */
  let callable = [];
  const selectedModel = () => callable.find((m) => m.id === select.value);
  const modelLine = modelStatus(select, selectedModel);
  /** What the composer offers follows the selected model: images for vision models, tools for tools models. */
  function offer() {
    const capabilities = new Set(selectedModel()?.capabilities ?? []);
    attach.offer(capabilities.has("vision"));
    options.offerTools(capabilities.has("tools"));
    modelLine.draw();
  }
  select.addEventListener("change", offer);
  select.addEventListener("health", offer);
  offer();

  /** @type {AbortController | null} */
  let running = null;
  /** The conversation this thread is stored in (null: the next turn starts one). */
  let conversationId = /** @type {string | null} */ (null);
  /** The last question asked, for Regenerate. */
  let lastPrompt = /** @type {string | null} */ (null);
  /** The last question's images (the files shown, their uploaded paths), for Regenerate. */
  let lastImages = /** @type {{ files: File[], paths: string[] } | null} */ (null);

  // The browser tests read these: when each piece of text was drawn in the page.
  const timings = /** @type {Array<{ at: number, chars: number }>} */ ([]);
  /** @type {any} */ (window).chatTimings = timings;

  /** The newest answer carries the ids the tests and the status bar name. @param {ReturnType<typeof assistantTurn>} turn */
  function makeCurrent(turn) {
    for (const old of thread.querySelectorAll("#chat-output, #chat-meta")) old.removeAttribute("id");
    turn.body.id = "chat-output";
    turn.meta.id = "chat-meta";
    turn.actions.append(regenerate);
  }

  /**
   * The conversation a turn was stored in becomes this thread's, unless the turn was left meanwhile
   * (another conversation opened, or a new chat started, which stops it).
   * @param {string | null} id
   * @param {HTMLElement} turn
   */
  function adopt(id, turn) {
    if (!id || id === conversationId || !turn.isConnected) return;
    conversationId = id;
    showInUrl(id);
    markOpen();
  }

  /**
   * Ask `text`; with `again`, the last answer is replaced rather than a new question added (with the same images).
   * @param {string} text
   * @param {boolean} again
   */
  async function ask(text, again) {
    if (running || !canSend || !text.trim() || select.disabled || !select.value) return;
    /** @type {ReturnType<typeof options.fields>} */
    let extra;
    try {
      extra = options.fields();
    } catch (err) {
      error.show(err);
      return;
    }
    running = new AbortController();
    const signal = running.signal;
    error.show(null);
    const asJson = extra.responseFormat !== undefined;
    const files = again ? (lastImages?.files ?? []) : [...attach.files];
    let question = /** @type {HTMLElement | null} */ (null);
    const last = thread.lastElementChild;
    if (again && last instanceof HTMLElement && last.dataset.role === "assistant") last.remove();
    else thread.append((question = userTurn(text, files)));
    lastPrompt = text;
    if (!again) attach.clear();
    const turn = assistantTurn();
    const typing = h("span", { className: "typing", id: "chat-typing", "aria-hidden": "true" }, h("span"), h("span"), h("span"));
    turn.body.append(typing);
    thread.append(turn.node);
    makeCurrent(turn);
    regenerate.hidden = true;
    prompt.value = "";
    prompt.focus();
    send.disabled = true;
    stop.disabled = false;
    timings.length = 0;
    turn.body.dataset.state = "streaming";
    thread.setAttribute("aria-busy", "true");
    status.textContent = files.length ? "Uploading images…" : "Answering…";
    grow();
    follow = true;
    toBottom();
    let answer = "";
    const calls = new ToolCalls();
    // Markdown is parsed again from the start for each render: at most once a frame, however fast the chunks come.
    /** Lengths of the chunks received since the last render. */
    const unseen = /** @type {number[]} */ ([]);
    let frame = 0;
    /** @param {boolean} final */
    const paint = (final) => {
      frame = 0;
      renderAnswer(turn.body, answer, { json: asJson, final });
      if (calls.list.length) turn.body.append(toolCallsBlock(calls.list));
      if (follow) toBottom();
      const at = performance.now();
      for (const chars of unseen.splice(0)) timings.push({ at, chars });
    };
    const draw = () => paint(false);
    try {
      const images = again && lastImages ? lastImages.paths : files.length ? await upload(ctx.storage, ctx.user.uid, files) : [];
      if (signal.aborted) throw signal.reason;
      lastImages = images.length ? { files, paths: images } : null;
      status.textContent = "Answering…";
      const request = {
        modelId: select.value,
        prompt: text,
        saveHistory: true,
        ...(conversationId ? { conversationId } : {}),
        ...(images.length ? { images } : {}),
        ...extra,
      };
      for await (const item of ctx.gateway.streamText(request, { signal })) {
        if (ctx.gateway.lastResponse?.fn === "generate_text") adopt(ctx.gateway.lastResponse.conversationId ?? null, turn.node);
        if (item.type === "delta") {
          answer += item.text;
          unseen.push(item.text.length);
          frame ||= requestAnimationFrame(draw);
        } else if (item.type === "toolCall") {
          calls.add(item);
          frame ||= requestAnimationFrame(draw);
        } else if (item.type === "done") {
          turn.meta.textContent = metaLine(item);
          turn.meta.dataset.finish = item.finishReason ?? "";
          adopt(item.conversationId ?? null, turn.node);
        }
      }
      cancelAnimationFrame(frame);
      paint(true);
      turn.body.dataset.state = "done";
      status.textContent = turn.body.textContent || "The answer is empty.";
    } catch (err) {
      const stopped = signal.aborted;
      cancelAnimationFrame(frame);
      if (answer || calls.list.length) paint(true);
      typing.remove();
      turn.body.dataset.state = stopped ? "stopped" : "failed";
      if (stopped) {
        turn.meta.textContent = finishWords("cancelled");
        status.textContent = finishWords("cancelled");
        if (ctx.gateway.lastResponse?.fn === "generate_text") adopt(ctx.gateway.lastResponse.conversationId ?? null, turn.node);
      } else {
        // A failed turn is not stored: take it out of the thread and give the question (and its images) back to send again.
        error.show(err);
        status.textContent = "";
        if (!answer && !calls.list.length) {
          turn.node.remove();
          question?.remove();
        }
        if (!prompt.value) prompt.value = text;
        grow();
        if (!again && files.length && !attach.files.length) attach.restore(files);
      }
    } finally {
      running = null;
      send.disabled = false;
      stop.disabled = true;
      showRegenerate();
      thread.removeAttribute("aria-busy");
      prompt.focus();
      if (follow) toBottom(); // the usage line and Regenerate came last
    }
  }

  /** Regenerate shows under the last answer, for those who may generate. */
  function showRegenerate() {
    regenerate.hidden = !canSend || !thread.querySelector(".msg.assistant");
  }

  /** @param {SubmitEvent} event */
  function submit(event) {
    event.preventDefault();
    ask(prompt.value, false);
  }

  prompt.addEventListener("keydown", (event) => {
    // On a touch keyboard Enter is the only way to a new line: there, Send sends.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !matchMedia("(pointer: coarse)").matches) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  stop.addEventListener("click", () => running?.abort());
  regenerate.addEventListener("click", () => lastPrompt !== null && ask(lastPrompt, true));
  regenerate.hidden = true;

  /** Mark the open conversation in the sidebar. */
  function markOpen() {
    sidebar.markOpen(conversationId);
  }

  /** Show a stored conversation: its messages, its model. @param {string} id */
  async function open(id) {
    running?.abort();
    error.show(null);
    conversationId = id;
    showInUrl(id);
    markOpen();
    fill(thread);
    lastPrompt = null;
    lastImages = null;
    regenerate.hidden = true;
    try {
      /** @type {ConversationMessage[]} */
      const messages = [];
      let pageToken = /** @type {string | null | undefined} */ (undefined);
      let modelId = /** @type {string | null | undefined} */ (null);
      do {
        const page = await ctx.gateway.conversations.get(id, { limit: 100, pageToken });
        messages.push(...page.messages);
        modelId = page.modelId;
        pageToken = page.nextPageToken;
      } while (pageToken);
      if (conversationId !== id) return; // another conversation was opened meanwhile
      for (const message of messages) {
        if (message.role === "user") {
          thread.append(userTurn(message.content ?? ""));
          lastPrompt = message.content ?? null;
        } else if (message.role === "assistant") {
          const turn = assistantTurn();
          if (message.content) renderAnswer(turn.body, message.content, { final: true });
          else turn.body.append(h("p", { className: "meta" }, "No text: the answer was empty, or only tool calls (which are not stored)."));
          turn.body.dataset.state = message.status === "cancelled" ? "stopped" : "done";
          turn.meta.textContent = message.status === "cancelled" ? finishWords("cancelled") : metaLine(message);
          thread.append(turn.node);
          makeCurrent(turn);
        }
      }
      showRegenerate();
      thread.dataset.conversation = id;
      follow = true;
      toBottom();
      if (modelId && [...select.options].some((o) => o.value === modelId && !o.disabled)) select.value = modelId;
    } catch (err) {
      error.show(err);
      conversationId = null;
      showInUrl(null);
    }
    prompt.focus();
  }

  function startNew() {
    running?.abort();
    conversationId = null;
    lastPrompt = null;
    lastImages = null;
    showInUrl(null);
    fill(thread);
    delete thread.dataset.conversation;
    regenerate.hidden = true;
    error.show(null);
    markOpen();
    prompt.focus();
  }

  /** Open or fold the conversation list (a phone's; on wider screens it always shows). @param {boolean} on */
  function fold(on) {
    toggle.setAttribute("aria-expanded", String(on));
    nav.classList.toggle("open", on);
  }
  toggle.addEventListener("click", () => fold(toggle.getAttribute("aria-expanded") !== "true"));
  newChat.addEventListener("click", () => {
    fold(false);
    startNew();
  });
  const models = loadModels(ctx.gateway, select, (m) => m.type !== "image" && m.type !== "embedding", { admin: ctx.role === "admin", remember: "chat-model" });
  models.then((list) => {
    callable = list;
    offer();
  }, (err) => error.show(err));
  const restored = conversationInUrl();
  if (restored) models.finally(() => open(restored));
  queueMicrotask(() => prompt.focus());

  const nav = h("nav", { id: "chat-sidebar", className: "chat-sidebar", "aria-label": "Conversations" }, newChat, sidebar.status, sidebar.list, sidebar.more);
  nav.addEventListener("keydown", (event) => {
    // Escape folds a phone's open list and gives the focus back to its button (unless it cancelled a rename).
    if (event.key === "Escape" && !event.defaultPrevented && toggle.getAttribute("aria-expanded") === "true") {
      fold(false);
      toggle.focus();
    }
  });
  const page = h(
    "section",
    { id: "chat-page", className: "chat" },
    toggle,
    nav,
    h(
      "div",
      { className: "chat-main" },
      h("div", { className: "chat-head" }, h("h2", {}, "Chat"), h("div", { className: "model-pick" }, h("label", {}, "Model ", select), modelLine.line)),
      thread,
      h("div", { id: "chat-dock", className: "chat-dock" }, error.box, canSend ? form : readOnlyNote(ctx.role)),
      status,
    ),
  );
  return page;
}
