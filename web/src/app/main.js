// @ts-check
/**
 * The demo web app: sign in with Firebase Auth, then use the gateway through its client.
 *
 * Configuration comes from Hosting: `/__/firebase/init.json` is the project's web config
 * (served by Firebase Hosting in production and by the Hosting emulator locally), and the
 * optional `/gateway-config.json` (written by `make dev` and the tests) names the functions'
 * URL and the emulators. Without it, the functions are at
 * `https://<region>-<project>.cloudfunctions.net`, the region being deploy.REGION (./config.js).
 */

import { initializeApp } from "firebase/app";
import {
  GoogleAuthProvider,
  connectAuthEmulator,
  getAuth,
  onAuthStateChanged,
  signInWithEmailAndPassword,
  signInWithPopup,
  signOut,
} from "firebase/auth";
import { connectFirestoreEmulator, doc, getDoc, getFirestore } from "firebase/firestore";

import { createGateway } from "../gateway/index.js";
import { storageLoader } from "./attachments.js";
import { loadConfig } from "./config.js";
import { alertBox, fill, h } from "./dom.js";
import { startLayout } from "./layout.js";
import { chatPage } from "./pages/chat.js";

/**
 * What every page gets.
 * @typedef {object} Context
 * @property {import("../gateway/index.js").Gateway} gateway
 * @property {import("firebase/firestore").Firestore} db
 * @property {import("firebase/auth").User} user
 * @property {string} role  the project role (admin, user, viewer)
 * @property {OrgChoice | null} org  the organisation chosen in the header (every call sends it as X-Org-Id); null: project-wide
 * @property {OrgChoice[]} orgs  the caller's organisations (project admins: all of them)
 * @property {(orgId: string | null) => Promise<void>} selectOrg  choose another organisation (remembered as the default) and redraw
 * @property {() => Promise<void>} reloadOrgs  read the organisations again (after one was created or deleted)
 * @property {import("./attachments.js").StorageLoader} storage  Cloud Storage (its SDK loaded on first use)
 * @property {(cleanup: () => void) => void} onLeave  run `cleanup` when the page is left (another page, sign-out, the tab closed)
 */

/** @typedef {import("./config.js").AppConfig} AppConfig */

/**
 * An organisation the caller may choose, with their org role in it (project admins act as its owner).
 * @typedef {{ id: string, name: string, role: string }} OrgChoice
 */

/** Org roles that manage their organisation: its members, settings, models and providers. */
export const ORG_MANAGERS = new Set(["owner", "admin"]);

/**
 * App Check's token source for the gateway client, when the config names a reCAPTCHA Enterprise site key.
 * The SDK is loaded only then. A debug token (local work, CI) must be set before App Check starts.
 * @param {import("firebase/app").FirebaseApp} app
 * @param {NonNullable<AppConfig["appCheck"]>} settings
 * @returns {Promise<(limitedUse: boolean) => Promise<string>>}
 */
async function appCheckTokens(app, settings) {
  if (settings.debugToken !== undefined) {
    /** @type {any} */ (self).FIREBASE_APPCHECK_DEBUG_TOKEN = settings.debugToken;
  }
  const { ReCaptchaEnterpriseProvider, getLimitedUseToken, getToken, initializeAppCheck } = await import("firebase/app-check");
  const appCheck = initializeAppCheck(app, {
    provider: new ReCaptchaEnterpriseProvider(settings.siteKey),
    isTokenAutoRefreshEnabled: true,
  });
  return async (limitedUse) => (await (limitedUse ? getLimitedUseToken(appCheck) : getToken(appCheck))).token;
}

/** @typedef {(ctx: Context) => HTMLElement} Page */

/**
 * Who may open a page: everyone; project admins; the managers of the selected organisation (project admins
 * included); or whoever edits a catalogue (project admins, and org managers with their organisation selected,
 * who then edit that organisation's models and providers).
 * @typedef {"all" | "admin" | "manager" | "catalogue"} Access
 */

/**
 * The pages. Chat (the first page after sign-in) is in the first chunk; the others, and what only they use
 * (uPlot for the charts), are separate chunks fetched on their first visit, so signing in and chatting
 * don't wait for them.
 * @type {Record<string, { title: string, access: Access, page: Page | (() => Promise<Page>) }>}
 */
const ROUTES = {
  chat: { title: "Chat", access: "all", page: chatPage },
  images: { title: "Images", access: "all", page: () => import("./pages/images.js").then((m) => m.imagesPage) },
  usage: { title: "Usage", access: "all", page: () => import("./pages/usage.js").then((m) => m.usagePage) },
  "org/members": { title: "Members", access: "manager", page: () => import("./pages/org_members.js").then((m) => m.membersPage) },
  "org/settings": { title: "Organisation", access: "manager", page: () => import("./pages/org_settings.js").then((m) => m.orgSettingsPage) },
  "admin/dashboard": { title: "Dashboard", access: "admin", page: () => import("./pages/admin_dashboard.js").then((m) => m.dashboardPage) },
  "admin/models": { title: "Models", access: "catalogue", page: () => import("./pages/admin_models.js").then((m) => m.modelsPage) },
  "admin/providers": { title: "Providers", access: "catalogue", page: () => import("./pages/admin_providers.js").then((m) => m.providersPage) },
  "admin/health": { title: "Health", access: "admin", page: () => import("./pages/admin_health.js").then((m) => m.healthPage) },
  "admin/audit": { title: "Audit", access: "admin", page: () => import("./pages/admin_audit.js").then((m) => m.auditPage) },
  "admin/orgs": { title: "Organisations", access: "admin", page: () => import("./pages/admin_orgs.js").then((m) => m.orgsPage) },
};

/**
 * Whether the caller may open a page of this access, with the organisation now selected.
 * @param {Access} access
 * @param {{ role: string, org: OrgChoice | null }} who
 */
export function allowed(access, who) {
  const manager = who.org !== null && (who.role === "admin" || ORG_MANAGERS.has(who.org.role));
  if (access === "all") return true;
  if (access === "admin") return who.role === "admin";
  if (access === "manager") return manager;
  return who.role === "admin" || manager;
}

/** The pages whose chunk has loaded: drawn at once on the next visit. @type {Map<string, Page>} */
const loaded = new Map();

/**
 * A page's function, its chunk fetched first when it is a lazy one.
 * @param {string} name
 * @returns {Page | Promise<Page>}
 */
function pageOf(name) {
  const page = ROUTES[name].page;
  if (name === "chat") return /** @type {Page} */ (page);
  const known = loaded.get(name);
  if (known) return known;
  return /** @type {() => Promise<Page>} */ (page)().then((fn) => (loaded.set(name, fn), fn));
}

/** What shows while a page's chunk is on its way. @param {string} title */
function loadingPage(title) {
  return h("section", { id: "page-loading", "aria-busy": "true" }, h("h2", {}, title), h("p", { className: "meta", role: "status" }, "Loading…"));
}

/**
 * A page whose chunk could not be fetched: most often a deploy since this tab opened (the chunks' names are
 * hashes of their content, and the old ones are gone) or the network. A reload gets the new app.
 * @param {string} title
 * @param {unknown} err
 */
function chunkFailed(title, err) {
  console.error(err);
  return h(
    "section",
    { id: "page-load-error" },
    h("h2", {}, title),
    h("p", { className: "alert", role: "alert" }, "This page could not be loaded: the app may have been updated since this tab was opened, or the network is down. Reload to get the current version."),
    h("button", { id: "page-reload", type: "button", onclick: () => location.reload() }, "Reload"),
  );
}

/**
 * The caller's role as the gateway resolves it (the custom claim, else `users/{uid}.role`), and their default
 * organisation (`users/{uid}.defaultOrg`, which the owner may read).
 * @param {import("firebase/auth").User} user
 * @param {import("firebase/firestore").Firestore} db
 */
async function profileOf(user, db) {
  const [claims, profile] = await Promise.all([user.getIdTokenResult().then((t) => t.claims), getDoc(doc(db, "users", user.uid)).catch(() => null)]);
  const role = typeof claims.role === "string" ? claims.role : (profile?.get("role") ?? "user");
  const defaultOrg = profile?.get("defaultOrg");
  return { role: String(role), defaultOrg: typeof defaultOrg === "string" ? defaultOrg : null };
}

/**
 * What someone sees on the address of a page they may not open, in words: which role it needs.
 * @param {string} title
 * @param {Access} access
 * @param {{ role: string, org: OrgChoice | null }} who
 */
function notForYou(title, access, who) {
  const you = `you are signed in as ${who.role === "user" ? "a user" : `a ${who.role}`}`;
  const inOrg = who.org === null ? "with no organisation selected" : `and your role in ${who.org.name} is ${who.org.role}`;
  const why =
    access === "admin"
      ? `Admins only: this page needs the admin role, and ${you}.`
      : access === "catalogue"
        ? `Admins only: this page needs the admin role, or the owner or admin role in the organisation selected in the header; ${you}, ${inOrg}.`
        : who.org === null
          ? `Organisation admins only: choose an organisation you manage in the header first (${you}, with no organisation selected).`
          : `Organisation admins only: this page needs the owner or admin role in ${who.org.name}, and your role there is ${who.org.role}.`;
  return h(
    "section",
    { id: "admins-only" },
    h("h2", {}, title),
    h("p", { className: "alert", role: "alert" }, why),
    h("p", {}, h("a", { href: "#/chat" }, "Back to chat")),
  );
}

/** The catalogue pages say whose models and providers they edit: the organisation's or the project-wide ones. */
const CATALOGUE = new Set(["admin/models", "admin/providers"]);

/** @param {OrgChoice | null} org */
function catalogueScope(org) {
  return h(
    "p",
    { id: "org-scope", className: "meta", role: "note", dataset: { org: org?.id ?? "" } },
    org ? `Editing the catalogue of the organisation ${org.name} (${org.id}).` : "Editing the project-wide catalogue (no organisation selected).",
  );
}

/** Pages whose point is to generate, which the viewer role may not do (the chat page says so itself, in its composer's place). */
const GENERATES = new Set(["images"]);

/** Why a viewer's Send is refused, said before they try: the gateway answers 403 to a viewer's generation. */
function viewerNote() {
  return h(
    "p",
    { id: "viewer-note", className: "alert", role: "note" },
    "You are signed in as a viewer: you can read the models and your usage, but generating needs the user role. Ask an admin for it.",
  );
}

/** Firebase Auth codes that would tell whether an account exists: all read the same. */
const BAD_CREDENTIALS = new Set(["auth/user-not-found", "auth/wrong-password", "auth/invalid-credential", "auth/invalid-login-credentials", "auth/invalid-email", "auth/user-disabled"]);

/**
 * A sign-in failure in words, never saying whether the account exists.
 * @param {unknown} err
 */
export function signInMessage(err) {
  const code = /** @type {{ code?: unknown }} */ (err ?? {}).code;
  if (typeof code === "string" && BAD_CREDENTIALS.has(code)) return "Wrong email or password.";
  if (code === "auth/too-many-requests") return "Too many failed attempts: wait a few minutes, or reset your password, then try again.";
  if (code === "auth/network-request-failed") return "Could not reach the sign-in service: check your connection and try again.";
  if (code === "auth/popup-closed-by-user" || code === "auth/cancelled-popup-request") return "Sign-in was cancelled.";
  return "Sign-in failed; try again.";
}

/**
 * @param {ReturnType<typeof getAuth>} auth
 * @param {boolean} emulated
 */
function signInForm(auth, emulated) {
  const error = alertBox("signin-error");
  const form = /** @type {HTMLFormElement} */ (
    h(
      "form",
      { id: "signin", onsubmit: submit },
      h("label", { className: "field" }, "Email", h("input", { id: "email", name: "email", type: "email", autocomplete: "username", required: true })),
      h("label", { className: "field" }, "Password", h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true })),
      h("button", { type: "submit" }, "Sign in"),
    )
  );
  /** @param {SubmitEvent} event */
  async function submit(event) {
    event.preventDefault();
    error.show(null);
    const data = new FormData(form);
    try {
      await signInWithEmailAndPassword(auth, String(data.get("email")), String(data.get("password")));
    } catch (err) {
      error.show(new Error(signInMessage(err)));
    }
  }
  const google = emulated
    ? null
    : h("button", { id: "google", type: "button", onclick: () => signInWithPopup(auth, new GoogleAuthProvider()).catch((err) => error.show(new Error(signInMessage(err)))) }, "Sign in with Google");
  return h(
    "section",
    { id: "signin-page" },
    h("h2", {}, "Sign in"),
    emulated ? h("p", { className: "meta" }, "Local emulators: try user@demo.test / demo-password (admin@demo.test for the admin pages).") : null,
    form,
    google,
    error.box,
  );
}

async function start() {
  const root = /** @type {HTMLElement} */ (document.getElementById("app"));
  const nav = /** @type {HTMLElement} */ (document.getElementById("nav"));
  const who = /** @type {HTMLElement} */ (document.getElementById("who"));
  const requestId = /** @type {HTMLElement} */ (document.getElementById("request-id"));
  const rateLimit = /** @type {HTMLElement} */ (document.getElementById("rate-limit"));
  const orgBox = /** @type {HTMLElement} */ (document.getElementById("org"));
  startLayout(root);

  const config = await loadConfig();
  const app = initializeApp(config.firebase);
  const auth = getAuth(app);
  const db = getFirestore(app);
  if (config.emulators) {
    connectAuthEmulator(auth, config.emulators.auth, { disableWarnings: true });
    connectFirestoreEmulator(db, config.emulators.firestore.host, config.emulators.firestore.port);
  }
  // Chat's image attachments upload to Storage; the SDK is loaded, and connected to the emulator when there is one, on the first upload.
  const storage = storageLoader(app, config.emulators?.storage ?? null);
  /** The organisation chosen in the header: every call names it (X-Org-Id); null names none. */
  let orgId = /** @type {string | null} */ (null);
  /** @type {import("../gateway/client.js").GatewayOptions} */
  const options = {
    baseUrl: config.functionsUrl,
    auth,
    getAppCheckToken: config.appCheck ? await appCheckTokens(app, config.appCheck) : undefined,
    limitedUseAppCheck: config.appCheck?.limitedUse ?? false,
    onResponse(info) {
      // Both headers are read from JS: the gateway lists them in Access-Control-Expose-Headers.
      requestId.textContent = info.requestId ?? "–";
      if (info.rateLimit) {
        const { remaining, limit, reset } = info.rateLimit;
        rateLimit.textContent = `rate limit ${remaining}/${limit} left, resets ${new Date(reset * 1000).toLocaleTimeString()}`;
        rateLimit.dataset.remaining = String(remaining);
        rateLimit.dataset.limit = String(limit);
      }
    },
  };
  const gateway = createGateway({ ...options, org: () => orgId ?? "" }); // "": project-wide, not the saved default
  /** For the list of organisations: it names none, so an organisation just deleted or left is no 403 for it. */
  const unscoped = createGateway(options);

  /** @type {Context | null} */
  let ctx = null;
  /** What the page on screen asked to run when it is left: its Firestore listeners stop there. */
  const cleanups = /** @type {Array<() => void>} */ ([]);
  /** @param {() => void} cleanup */
  const onLeave = (cleanup) => void cleanups.push(cleanup);
  function leave() {
    for (const cleanup of cleanups.splice(0)) {
      try {
        cleanup();
      } catch (err) {
        console.error(err);
      }
    }
  }

  /** Counts route() calls: a page whose chunk arrives after another route was asked for is not drawn. */
  let routing = 0;

  function route() {
    if (!ctx) return;
    const ticket = ++routing;
    const name = location.hash.replace(/^#\/?/, "") || "chat";
    const target = ROUTES[name] ? name : "chat";
    for (const a of nav.querySelectorAll("a")) {
      if (a.dataset.route === target) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    leave();
    // Say why rather than silently showing another page: a link shared by an admin should not look broken.
    if (!allowed(ROUTES[target].access, ctx)) {
      fill(root, notForYou(ROUTES[target].title, ROUTES[target].access, ctx));
      return;
    }
    /** @param {Page} page */
    const draw = (page) => {
      if (ticket !== routing || !ctx) return; // left (or signed out) while the chunk was loading
      const notes = [...(GENERATES.has(target) && ctx.role === "viewer" ? [viewerNote()] : []), ...(CATALOGUE.has(target) ? [catalogueScope(ctx.org)] : [])];
      fill(root, ...notes, page(ctx));
    };
    const page = pageOf(target);
    if (!(page instanceof Promise)) return draw(page);
    fill(root, loadingPage(ROUTES[target].title));
    page.then(draw, (err) => ticket === routing && fill(root, chunkFailed(ROUTES[target].title, err)));
  }

  window.addEventListener("hashchange", route);
  // A closed tab (or one put in the back/forward cache) stops its listeners first: a listen stream
  // cut off without its unlisten is what the Firestore emulator handles worst. Shown again: drawn again.
  window.addEventListener("pagehide", leave);
  window.addEventListener("pageshow", (event) => event.persisted && route());
  /** The navigation: the pages the caller may open with the organisation now selected. */
  function drawNav() {
    if (!ctx) return;
    const who = ctx;
    const visible = Object.entries(ROUTES).filter(([, r]) => allowed(r.access, who));
    fill(nav, ...visible.map(([name, r]) => h("a", { href: `#/${name}`, dataset: { route: name } }, r.title)));
  }

  /**
   * The organisation switcher: shown to members of any organisation (project admins: when there is one). "Project-wide"
   * is offered too: everyone may use the project-wide catalogue.
   */
  function drawSwitcher() {
    if (!ctx || ctx.orgs.length === 0) {
      orgBox.hidden = true;
      fill(orgBox);
      return;
    }
    const select = /** @type {HTMLSelectElement} */ (
      h(
        "select",
        { id: "org-switch", name: "org", onchange: () => ctx?.selectOrg(select.value || null) },
        h("option", { value: "", selected: orgId === null }, "Project-wide (no organisation)"),
        ...ctx.orgs.map((o) => h("option", { value: o.id, selected: o.id === orgId }, `${o.name} (${o.role})`)),
      )
    );
    fill(orgBox, h("label", { htmlFor: "org-switch" }, "Organisation"), select);
    orgBox.dataset.org = orgId ?? "";
    orgBox.hidden = false;
  }

  /** Read the caller's organisations; keep the selection if it is still one of them. @param {string | null} wanted */
  async function loadOrgs(wanted) {
    /** @type {OrgChoice[]} */
    let found = [];
    try {
      const { orgs } = await unscoped.orgs.list({ limit: 500 });
      found = orgs.map((o) => ({ id: o.id, name: o.name, role: o.role ?? "member" }));
    } catch (err) {
      console.error(err); // no switcher rather than no app: project-wide still works
    }
    return { found, selected: found.some((o) => o.id === wanted) ? wanted : null };
  }

  /** Put the chosen organisation in force: calls name it, the nav and switcher follow, the page is drawn again. */
  function apply() {
    if (!ctx) return;
    ctx.org = ctx.orgs.find((o) => o.id === orgId) ?? null;
    drawSwitcher();
    drawNav();
    route();
  }

  onAuthStateChanged(auth, async (user) => {
    if (!user) {
      leave();
      ctx = null;
      orgId = null;
      nav.hidden = true;
      orgBox.hidden = true;
      fill(orgBox);
      fill(who);
      fill(root, signInForm(auth, config.emulators !== null));
      return;
    }
    const { role, defaultOrg } = await profileOf(user, db);
    const { found, selected } = await loadOrgs(defaultOrg); // a default left behind is not offered
    orgId = selected;
    let saving = Promise.resolve();
    /** @type {Context} */
    const current = {
      gateway, db, user, role, storage, onLeave, org: null, orgs: found,
      async selectOrg(next) {
        if (ctx !== current || next === orgId) return;
        // Remembered as the default, so the next sign-in starts here. The project-wide choice sends no header, which
        // the gateway reads as "the default": it is remembered before the page asks anything.
        // One after the other, so the last choice is the one that stays.
        const remembered = (saving = saving.then(() =>
          unscoped.orgs.setDefault(next).then(
            () => void (orgBox.dataset.remembered = next ?? ""),
            (err) => console.error(err),
          ),
        ));
        if (next === null) await remembered;
        if (ctx !== current) return;
        orgId = next;
        // A conversation belongs to one organisation: switching starts a new chat rather than reopen it elsewhere.
        if (location.hash.startsWith("#/chat/")) history.replaceState(null, "", "#/chat");
        apply();
        await remembered;
      },
      async reloadOrgs() {
        const again = await loadOrgs(orgId);
        if (ctx !== current) return;
        current.orgs = again.found;
        orgId = again.selected;
        current.org = current.orgs.find((o) => o.id === orgId) ?? null;
        drawSwitcher();
        drawNav();
      },
    };
    ctx = current;
    nav.hidden = false;
    fill(who, h("span", { id: "user-email" }, `${user.email ?? user.uid} (${role})`), h("button", { id: "signout", type: "button", onclick: () => (leave(), signOut(auth)) }, "Sign out"));
    apply();
  });
}

start().catch((err) => {
  const root = document.getElementById("app");
  if (root) fill(root, h("p", { className: "alert", role: "alert" }, String(err?.message ?? err)));
});
