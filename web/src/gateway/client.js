// @ts-check
/**
 * The gateway's browser client: one object per app, next to the Firebase JS SDK.
 *
 *   const gateway = createGateway({ baseUrl: "https://us-central1-PROJECT.cloudfunctions.net", auth });
 *   for await (const event of gateway.streamText({ modelId, prompt }, { signal })) { ... }
 *
 * It owns what every caller would otherwise hand-write: the ID token (refreshed near its
 * expiry and once after a 401), the one error shape, `Retry-After` on 429 (when asked),
 * incremental SSE, and cancellation with an AbortSignal (the gateway then closes its
 * upstream call).
 */

import { GatewayError, fromBody, parseRetryAfter } from "./errors.js";
import { readEvents } from "./sse.js";

/** @typedef {import("./types").GenerateTextRequest} GenerateTextRequest */
/** @typedef {import("./types").GenerateImageRequest} GenerateImageRequest */
/** @typedef {import("./types").TextAnswer} TextAnswer */
/** @typedef {import("./types").StreamDone} StreamDone */
/** @typedef {import("./types").ImageAnswer} ImageAnswer */
/** @typedef {import("./types").Model} Model */
/** @typedef {import("./types").ModelList} ModelList */
/** @typedef {import("./types").ModelSpec} ModelSpec */
/** @typedef {import("./types").ListParams} ListModelsQuery */
/** @typedef {import("./types").UsageQuery} UsageQuery */
/** @typedef {import("./types").ProviderWrite} ProviderWrite */
/** @typedef {import("./types").UsageReport} UsageReport */
/** @typedef {import("./types").UsageRecordsPage} UsageRecordsPage */
/** @typedef {import("./types").ModelUsageQuery} ModelUsageQuery */
/** @typedef {import("./types").RoleQuota} RoleQuota */
/** @typedef {import("./types").MetricsReport} MetricsReport */
/** @typedef {import("./types").OrgUsageReport} OrgUsageReport */
/** @typedef {import("./types").CreateEmbeddingResponse} CreateEmbeddingResponse */
/** @typedef {import("./types").ConversationList} ConversationList */
/** @typedef {import("./types").ConversationDetail} ConversationDetail */
/** @typedef {import("./types").Conversation} Conversation */
/** @typedef {import("./types").ConversationQuery} ConversationQuery */
/** @typedef {import("./types").Org} Org */
/** @typedef {import("./types").OrgList} OrgList */
/** @typedef {import("./types").OrgDetail} OrgDetail */
/** @typedef {import("./types").OrgCreate} OrgCreate */
/** @typedef {import("./types").OrgPatch} OrgPatch */
/** @typedef {import("./types").OrgDeleted} OrgDeleted */
/** @typedef {import("./types").Member} Member */
/** @typedef {import("./types").MemberList} MemberList */
/** @typedef {import("./types").MemberAdd} MemberAdd */
/** @typedef {import("./types").MemberPatch} MemberPatch */

/**
 * @typedef {object} EmbedRequest
 * @property {string} model  a model of type `embedding`
 * @property {string | string[]} input  at most 2048 texts
 * @property {number} [dimensions]  a shorter vector, where the model's provider has it (else a 400 naming it)
 */

/** @typedef {"health" | "models" | "generate_text" | "generate_image" | "openai" | "usage" | "providers" | "conversations" | "orgs"} FunctionName */

/**
 * @typedef {object} RateLimit
 * @property {number} limit      requests allowed in the window
 * @property {number} remaining  left in the window
 * @property {number} reset      epoch seconds when the window ends
 */

/**
 * What the last answer said besides its body (headers the gateway exposes to JS).
 * @typedef {object} ResponseInfo
 * @property {FunctionName} fn
 * @property {number} status
 * @property {string | null} requestId
 * @property {RateLimit | null} rateLimit
 * @property {string | null} [conversationId]  `X-Conversation-Id` of a `generate_text` answer with history
 *   (known before the first token, so a stopped stream still names its conversation)
 */

/**
 * @typedef {object} GatewayOptions
 * @property {string} [baseUrl]  where the functions live: `https://<region>-<project>.cloudfunctions.net`,
 *   the emulator's `http://127.0.0.1:5001/<project>/<region>`, or a Hosting origin with rewrites
 * @property {Partial<Record<FunctionName, string>>} [urls]  a URL per function (Cloud Run URLs), over `baseUrl`
 * @property {{ currentUser: { getIdToken(forceRefresh?: boolean): Promise<string> } | null }} [auth]
 *   the Firebase `Auth` instance; its current user signs every call
 * @property {(forceRefresh: boolean) => Promise<string | null>} [getIdToken]  instead of `auth`
 * @property {(limitedUse: boolean) => Promise<string | null>} [getAppCheckToken]  a Firebase App Check token for
 *   every call but `health`, sent as `X-Firebase-AppCheck`: e.g. `(limited) => (limited ? getLimitedUseToken(appCheck)
 *   : getToken(appCheck)).then((r) => r.token)` with the `firebase/app-check` SDK
 * @property {boolean | FunctionName[]} [limitedUseAppCheck]  ask for limited-use tokens for these functions
 *   (`true`: `generate_text`, `generate_image`, `openai`), the ones the gateway's `APP_CHECK_CONSUME` names
 * @property {boolean | { maxRetries?: number, maxWaitSeconds?: number }} [retryOn429]
 *   wait `Retry-After` and try again (default off: the error carries `retryAfter`)
 * @property {string | null | (() => string | null | undefined)} [org]  the organisation every call is for, sent as
 *   `X-Org-Id` (a function: asked on each call, e.g. an organisation switcher's current value); `""`: explicitly
 *   none (project-wide, whatever the user's default); null or left out: the user's default organisation, if any
 *   (docs/orgs.md)
 * @property {number} [refreshMarginSeconds]  refresh a token this close to its expiry (default 60)
 * @property {(info: ResponseInfo) => void} [onResponse]  called with every answer's headers
 * @property {typeof fetch} [fetch]
 */

/**
 * @typedef {object} CallOptions
 * @property {AbortSignal} [signal]  abort the call (a stream: the gateway closes its upstream)
 */

/**
 * @typedef {{ type: "delta", text: string }
 *   | ({ type: "toolCall" } & import("./types").StreamToolCallPiece)
 *   | ({ type: "done" } & StreamDone)} StreamEvent
 *   `toolCall`: a piece of tool call `index` (`id` and `name` on its first piece, then `arguments` fragments).
 */

const DEFAULT_MARGIN_SECONDS = 60;

/**
 * The `exp` claim of a JWT (seconds), or null when it cannot be read.
 * @param {string} token
 */
export function tokenExpiry(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(part + "=".repeat((4 - (part.length % 4)) % 4)));
    return typeof claims.exp === "number" ? claims.exp : null;
  } catch {
    return null;
  }
}

/**
 * @param {number} seconds
 * @param {AbortSignal | undefined} signal
 */
function sleep(seconds, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(aborted(signal));
    const timer = setTimeout(done, seconds * 1000);
    function done() {
      signal?.removeEventListener("abort", onAbort);
      resolve(undefined);
    }
    function onAbort() {
      clearTimeout(timer);
      reject(aborted(/** @type {AbortSignal} */ (signal)));
    }
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** @param {AbortSignal} signal */
function aborted(signal) {
  return new GatewayError({ code: "ABORTED", message: "The call was cancelled", cause: signal.reason });
}

/**
 * @param {Headers} headers
 * @returns {RateLimit | null}
 */
function rateLimitOf(headers) {
  const limit = headers.get("X-RateLimit-Limit");
  if (limit === null) return null;
  return {
    limit: Number(limit),
    remaining: Number(headers.get("X-RateLimit-Remaining") ?? 0),
    reset: Number(headers.get("X-RateLimit-Reset") ?? 0),
  };
}

/** @param {object | undefined} query */
function queryString(query) {
  if (!query) return "";
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null) params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

/**
 * Create a client for the gateway.
 * @param {GatewayOptions} options
 */
export function createGateway(options) {
  const fetcher = options.fetch ?? globalThis.fetch.bind(globalThis);
  const margin = options.refreshMarginSeconds ?? DEFAULT_MARGIN_SECONDS;
  const retry = options.retryOn429 === true ? {} : options.retryOn429 || null;
  const maxRetries = retry ? (retry.maxRetries ?? 2) : 0;
  const maxWait = retry ? (retry.maxWaitSeconds ?? 60) : 0;
  /** @type {ResponseInfo | null} */
  let lastResponse = null;

  /** @param {boolean} force */
  async function token(force) {
    if (options.getIdToken) return options.getIdToken(force);
    const user = options.auth?.currentUser;
    return user ? user.getIdToken(force) : null;
  }

  /** A token that will not expire in flight; refreshed when within `margin` of its expiry. */
  async function freshToken() {
    const current = await token(false);
    if (!current) return null;
    const exp = tokenExpiry(current);
    if (exp !== null && exp - Date.now() / 1000 < margin) return token(true);
    return current;
  }

  const limitedUse = new Set(
    options.limitedUseAppCheck === true ? ["generate_text", "generate_image", "openai"] : options.limitedUseAppCheck || [],
  );

  /** @param {FunctionName} fn */
  function urlOf(fn) {
    const url = options.urls?.[fn] ?? (options.baseUrl ? `${options.baseUrl.replace(/\/+$/, "")}/${fn}` : null);
    if (!url) throw new GatewayError({ code: "INVALID_ARGUMENT", message: `No URL for function ${fn}: set baseUrl or urls.${fn}` });
    return url;
  }

  /**
   * One HTTP call with the token, the 401 refresh and the 429 wait; the Response when it is ok.
   * @param {FunctionName} fn
   * @param {string} method
   * @param {string} path  after the function's URL, e.g. `/abc` or `?limit=5`
   * @param {unknown} body
   * @param {AbortSignal | undefined} signal
   * @param {boolean} [anonymous]
   * @param {number[]} [accept]  statuses that are answers too (health's 503 is its report)
   * @returns {Promise<Response>}
   */
  async function send(fn, method, path, body, signal, anonymous = false, accept = []) {
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      /** @type {Record<string, string>} */
      const headers = { Accept: "application/json, text/event-stream" };
      if (!anonymous) {
        const idToken = refreshed ? await token(true) : await freshToken();
        if (!idToken) throw new GatewayError({ code: "UNAUTHENTICATED", message: "Sign in first: no Firebase user", status: 401 });
        headers.Authorization = `Bearer ${idToken}`;
        const appCheckToken = options.getAppCheckToken ? await options.getAppCheckToken(limitedUse.has(fn)) : null;
        if (appCheckToken) headers["X-Firebase-AppCheck"] = appCheckToken;
        const org = typeof options.org === "function" ? options.org() : options.org;
        if (typeof org === "string") headers["X-Org-Id"] = org; // "": explicitly none, whatever the user's default
      }
      if (body !== undefined) headers["Content-Type"] = "application/json";
      /** @type {Response} */
      let response;
      try {
        response = await fetcher(urlOf(fn) + path, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          signal,
        });
      } catch (err) {
        if (signal?.aborted) throw aborted(signal);
        throw new GatewayError({ code: "NETWORK", message: `Could not reach the gateway (${fn})`, cause: err });
      }
      const requestId = response.headers.get("X-Request-Id");
      lastResponse = {
        fn,
        status: response.status,
        requestId,
        rateLimit: rateLimitOf(response.headers),
        conversationId: response.headers.get("X-Conversation-Id"),
      };
      options.onResponse?.(lastResponse);
      if (response.ok || accept.includes(response.status)) return response;
      const retryAfter = parseRetryAfter(response.headers.get("Retry-After"));
      let parsed = null;
      try {
        parsed = await response.json();
      } catch {
        // not JSON: reported as UNKNOWN with the status
      }
      const error = fromBody(parsed, { status: response.status, requestId, retryAfter });
      if (response.status === 401 && !anonymous && !refreshed) {
        refreshed = true; // a token revoked or expired early: one new token, one more try
        continue;
      }
      if (response.status === 429 && attempt < maxRetries && retryAfter !== null && retryAfter <= maxWait) {
        await sleep(retryAfter, signal);
        continue;
      }
      throw error;
    }
  }

  /**
   * @param {FunctionName} fn
   * @param {string} method
   * @param {string} path
   * @param {unknown} [body]
   * @param {CallOptions} [call]
   */
  async function json(fn, method, path, body, call = {}) {
    const response = await send(fn, method, path, body, call.signal, fn === "health");
    if (response.status === 204) return null;
    return response.json();
  }

  /**
   * Stream a text answer: deltas as they arrive, then one `done` event with usage and cost.
   * An `event: error` mid-stream is thrown as a GatewayError. Breaking out of the loop or
   * aborting `signal` closes the connection, and the gateway closes its upstream call.
   * @param {Omit<GenerateTextRequest, "stream">} request
   * @param {CallOptions} [call]
   * @returns {AsyncGenerator<StreamEvent, void, undefined>}
   */
  async function* streamText(request, call = {}) {
    const controller = new AbortController();
    const stop = () => controller.abort(call.signal?.reason);
    if (call.signal?.aborted) throw aborted(call.signal);
    call.signal?.addEventListener("abort", stop, { once: true });
    try {
      const response = await send("generate_text", "POST", "", { ...request, stream: true }, controller.signal);
      if (!response.body) throw new GatewayError({ code: "UNKNOWN", message: "The stream had no body", status: response.status });
      const requestId = response.headers.get("X-Request-Id");
      try {
        for await (const message of readEvents(response.body)) {
          if (message.data === "[DONE]") return;
          const data = JSON.parse(message.data);
          if (message.event === "error" || data.error) throw fromBody(data, { status: response.status, requestId });
          if (data.done) {
            const { done: _done, ...final } = data;
            yield { type: "done", ...final };
          } else if (typeof data.content === "string") {
            yield { type: "delta", text: data.content };
          } else if (data.toolCall) {
            yield { type: "toolCall", ...data.toolCall };
          }
        }
      } catch (err) {
        if (controller.signal.aborted) throw aborted(controller.signal);
        if (err instanceof GatewayError) throw err;
        throw new GatewayError({ code: "NETWORK", message: "The stream broke before it ended", status: response.status, requestId, cause: err });
      }
      throw new GatewayError({ code: "NETWORK", message: "The stream ended without [DONE]", status: response.status, requestId });
    } finally {
      call.signal?.removeEventListener("abort", stop);
      controller.abort(); // a no-op after [DONE]; otherwise closes the connection
    }
  }

  /** @param {string} id */
  const enc = (id) => `/${encodeURIComponent(id)}`;

  return {
    /** Headers of the last answer: request id and rate-limit window. */
    get lastResponse() {
      return lastResponse;
    },

    /** `GET health` (no token): the report, also when it is 503 (every provider unhealthy). @param {CallOptions} [call] */
    health: async (call = {}) => (await send("health", "GET", "", undefined, call.signal, true, [503])).json(),

    /**
     * Models the caller may use (users and viewers see enabled ones only).
     * @param {ListModelsQuery} [query]
     * @param {CallOptions} [call]
     * @returns {Promise<ModelList>}
     */
    listModels: (query, call) => json("models", "GET", queryString(query), undefined, call),

    /**
     * @param {Omit<GenerateTextRequest, "stream">} request
     * @param {CallOptions} [call]
     * @returns {Promise<TextAnswer>}
     */
    generateText: (request, call) => json("generate_text", "POST", "", { ...request, stream: false }, call),

    streamText,

    /**
     * Images stored in Cloud Storage; each has a download `url` and its `path`.
     * @param {GenerateImageRequest} request
     * @param {CallOptions} [call]
     * @returns {Promise<ImageAnswer>}
     */
    generateImage: (request, call) => json("generate_image", "POST", "", request, call),

    /**
     * Embeddings (OpenAI's `POST /v1/embeddings` on the `openai` function, which takes the same ID token):
     * one vector of numbers per input, in order, and the tokens counted.
     * @param {EmbedRequest} request
     * @param {CallOptions} [call]
     * @returns {Promise<CreateEmbeddingResponse>}
     */
    embed: (request, call) => json("openai", "POST", "/v1/embeddings", { ...request, encoding_format: "float" }, call),

    /**
     * The caller's usage and quota (admins: `uid` for anyone).
     * @param {UsageQuery} [query]
     * @param {CallOptions} [call]
     * @returns {Promise<UsageReport>}
     */
    usage: (query, call) => json("usage", "GET", queryString(query), undefined, call),

    /**
     * One page of the caller's records alone (`view=records`): what a page turn needs, without the window's totals
     * (the gateway reads no day documents for it).
     * @param {Omit<UsageQuery, "view">} [query]
     * @param {CallOptions} [call]
     * @returns {Promise<UsageRecordsPage>}
     */
    usageRecords: (query, call) => json("usage", "GET", queryString({ ...query, view: "records" }), undefined, call),

    /** Per-model totals (admin). @param {UsageQuery} [query] @param {CallOptions} [call] */
    usageByModel: (query, call) => json("usage", "GET", `/models${queryString(query)}`, undefined, call),

    /**
     * Dashboards' numbers (admin): totals, latency percentiles and per-day series by model, provider and route.
     * @param {ModelUsageQuery} [query]  `from`/`to` as YYYY-MM-DD (default: the last 30 days)
     * @param {CallOptions} [call]
     * @returns {Promise<MetricsReport>}
     */
    usageMetrics: (query, call) => json("usage", "GET", `/metrics${queryString(query)}`, undefined, call),

    /**
     * The organisation's budget and usage (its owners and admins, project admins): caps with what is spent and reserved
     * today and this month, and totals per day, model and member. The organisation is the client's `org` (X-Org-Id),
     * else the caller's default; none is a 400 naming X-Org-Id.
     * @param {ModelUsageQuery} [query]  `from`/`to` as YYYY-MM-DD (default: the last 30 days)
     * @param {CallOptions} [call]
     * @returns {Promise<OrgUsageReport>}
     */
    usageOrg: (query, call) => json("usage", "GET", `/org${queryString(query)}`, undefined, call),

    /** The registry of models (writes are admin only). */
    models: {
      /** @param {ListModelsQuery} [query] @param {CallOptions} [call] @returns {Promise<ModelList>} */
      list: (query, call) => json("models", "GET", queryString(query), undefined, call),
      /** @param {string} id @param {CallOptions} [call] @returns {Promise<Model>} */
      get: (id, call) => json("models", "GET", enc(id), undefined, call),
      /** @param {ModelSpec} model @param {CallOptions} [call] @returns {Promise<Model>} */
      create: (model, call) => json("models", "POST", "", model, call),
      /** @param {string} id @param {Omit<ModelSpec, "id">} model @param {CallOptions} [call] @returns {Promise<Model>} */
      replace: (id, model, call) => json("models", "PUT", enc(id), model, call),
      /** JSON merge patch: `null` removes a field. @param {string} id @param {Partial<Record<keyof ModelSpec, unknown>>} patch @param {CallOptions} [call] @returns {Promise<Model>} */
      update: (id, patch, call) => json("models", "PATCH", enc(id), patch, call),
      /** @param {string} id @param {CallOptions} [call] */
      delete: (id, call) => json("models", "DELETE", enc(id), undefined, call),
    },

    /** The caller's stored conversations (`generate_text` with `saveHistory` / `conversationId`). */
    conversations: {
      /** Most recently continued first. @param {ConversationQuery} [query] @param {CallOptions} [call] @returns {Promise<ConversationList>} */
      list: (query, call) => json("conversations", "GET", queryString(query), undefined, call),
      /** One conversation and a page of its messages, oldest first. @param {string} id @param {ConversationQuery} [query] @param {CallOptions} [call] @returns {Promise<ConversationDetail>} */
      get: (id, query, call) => json("conversations", "GET", enc(id) + queryString(query), undefined, call),
      /** @param {string} id @param {string} title @param {CallOptions} [call] @returns {Promise<Conversation>} */
      rename: (id, title, call) => json("conversations", "PATCH", enc(id), { title }, call),
      /** The conversation and all its messages. @param {string} id @param {CallOptions} [call] */
      delete: (id, call) => json("conversations", "DELETE", enc(id), undefined, call),
    },

    /** Providers and their keys (admin only); a key sent as `apiKey` is never returned. */
    providers: {
      /** @param {CallOptions} [call] */
      list: (call) => json("providers", "GET", "", undefined, call),
      /** @param {string} id @param {CallOptions} [call] */
      get: (id, call) => json("providers", "GET", enc(id), undefined, call),
      /** @param {ProviderWrite} provider @param {CallOptions} [call] */
      create: (provider, call) => json("providers", "POST", "", provider, call),
      /** @param {string} id @param {Omit<ProviderWrite, "id">} provider @param {CallOptions} [call] */
      replace: (id, provider, call) => json("providers", "PUT", enc(id), provider, call),
      /** @param {string} id @param {Partial<Record<keyof ProviderWrite, unknown>>} patch @param {CallOptions} [call] */
      update: (id, patch, call) => json("providers", "PATCH", enc(id), patch, call),
      /** @param {string} id @param {{ cascade?: boolean } & CallOptions} [call] */
      delete: (id, call = {}) => json("providers", "DELETE", enc(id) + (call.cascade ? "?cascade=true" : ""), undefined, call),
      /** Live check: reachable, key accepted, latency. @param {string} id @param {CallOptions} [call] */
      test: (id, call) => json("providers", "POST", `${enc(id)}/test`, undefined, call),
      /** The provider's own model list. @param {string} id @param {{ refresh?: boolean } & CallOptions} [call] */
      discover: (id, call = {}) => json("providers", "GET", `${enc(id)}/models${call.refresh ? "?refresh=true" : ""}`, undefined, call),
      /**
       * Create or update registry models from discovery (disabled unless `enabled: true`).
       * @param {string} id
       * @param {Array<{ name: string, id?: string, type?: string, enabled?: boolean }>} models
       * @param {CallOptions} [call]
       */
      import: (id, models, call) => json("providers", "POST", `${enc(id)}/models/import`, { models }, call),
    },

    /** Organisations and their members (docs/orgs.md): members read, org owners/admins manage, project admins create and delete. */
    orgs: {
      /** The caller's organisations with their org role (project admins: all, paged). @param {{ limit?: number, pageToken?: string }} [query] @param {CallOptions} [call] @returns {Promise<OrgList>} */
      list: (query, call) => json("orgs", "GET", queryString(query), undefined, call),
      /** An organisation and its members. @param {string} id @param {CallOptions} [call] @returns {Promise<OrgDetail>} */
      get: (id, call) => json("orgs", "GET", enc(id), undefined, call),
      /** Project admins. @param {OrgCreate} org @param {CallOptions} [call] @returns {Promise<Org>} */
      create: (org, call) => json("orgs", "POST", "", org, call),
      /** Name and/or settings (org owners and admins). @param {string} id @param {OrgPatch} patch @param {CallOptions} [call] @returns {Promise<Org>} */
      update: (id, patch, call) => json("orgs", "PATCH", enc(id), patch, call),
      /** The organisation and its members (project admins); retry to finish an interrupted delete. @param {string} id @param {CallOptions} [call] @returns {Promise<OrgDeleted>} */
      delete: (id, call) => json("orgs", "DELETE", enc(id), undefined, call),
      /** The organisation used when a call names none (`null`: none). @param {string | null} orgId @param {CallOptions} [call] @returns {Promise<{ defaultOrg: string | null }>} */
      setDefault: (orgId, call) => json("orgs", "PUT", "/default", { orgId }, call),
      members: {
        /** @param {string} id @param {{ limit?: number, pageToken?: string }} [query] @param {CallOptions} [call] @returns {Promise<MemberList>} */
        list: (id, query, call) => json("orgs", "GET", `${enc(id)}/members${queryString(query)}`, undefined, call),
        /** A Firebase Auth user, by email. @param {string} id @param {MemberAdd} member @param {CallOptions} [call] @returns {Promise<Member>} */
        add: (id, member, call) => json("orgs", "POST", `${enc(id)}/members`, member, call),
        /**
         * A new role, or a patch `{role?, quota?}` (`quota`: the member's daily quota override; null clears it).
         * @param {string} id @param {string} uid @param {MemberAdd["role"] | MemberPatch} change @param {CallOptions} [call] @returns {Promise<Member>}
         */
        update: (id, uid, change, call) =>
          json("orgs", "PATCH", `${enc(id)}/members${enc(uid)}`, typeof change === "string" ? { role: change } : change, call),
        /**
         * Role and/or per-member quota override (`quota: {dailyTokens, dailyCostUsd}`, `null` removes it).
         * @param {string} id @param {string} uid @param {{ role?: MemberAdd["role"], quota?: RoleQuota | null }} patch @param {CallOptions} [call] @returns {Promise<Member>}
         */
        patch: (id, uid, patch, call) => json("orgs", "PATCH", `${enc(id)}/members${enc(uid)}`, patch, call),
        /** @param {string} id @param {string} uid @param {CallOptions} [call] */
        remove: (id, uid, call) => json("orgs", "DELETE", `${enc(id)}/members${enc(uid)}`, undefined, call),
      },
    },
  };
}

/** @typedef {ReturnType<typeof createGateway>} Gateway */
