// The client against the real gateway: Functions, Auth and Firestore emulators, providers
// replaced by the project's fake upstreams. Run by tests/test_web_client.py, which starts the
// stack, prepares the fakes and passes everything as GATEWAY_TEST (JSON); it then checks what
// the fakes saw (the aborted stream's upstream connection closed).
import assert from "node:assert/strict";
import { before, test } from "node:test";

import { initializeApp } from "firebase/app";
import { connectAuthEmulator, getAuth, signInWithEmailAndPassword } from "firebase/auth";

import { GatewayError, createGateway } from "../src/gateway/index.js";

const config = JSON.parse(process.env.GATEWAY_TEST ?? "null");
if (!config) throw new Error("GATEWAY_TEST is not set: run this file through tests/test_web_client.py");

/** @type {Record<string, import("firebase/auth").Auth>} */
const auths = {};

/** A signed-in Firebase Auth instance per role, as a web app has one. */
before(async () => {
  for (const [role, email] of Object.entries(config.accounts)) {
    const app = initializeApp({ apiKey: "test-key", projectId: config.projectId }, role);
    const auth = getAuth(app);
    connectAuthEmulator(auth, config.authEmulator, { disableWarnings: true });
    await signInWithEmailAndPassword(auth, email, config.password);
    auths[role] = auth;
  }
});

/** @param {string} role @param {Parameters<typeof createGateway>[0]} [extra] */
const gatewayFor = (role, extra = {}) => createGateway({ baseUrl: config.functionsUrl, auth: auths[role], ...extra });

/**
 * @param {() => Promise<unknown>} call
 * @returns {Promise<GatewayError>}
 */
async function failure(call) {
  try {
    await call();
  } catch (err) {
    assert.ok(err instanceof GatewayError, `not a GatewayError: ${err}`);
    return err;
  }
  assert.fail("the call succeeded");
}

test("listModels: the user sees the enabled models, and the answer's headers", async () => {
  const gateway = gatewayFor("user");
  const list = await gateway.listModels({ limit: 100 });
  const ids = list.models.map((m) => m.id);
  assert.ok(ids.includes(config.models.chat), ids.join(","));
  assert.match(gateway.lastResponse?.requestId ?? "", /\S{8,}/);
  assert.equal(gateway.lastResponse?.status, 200);
});

test("generateText answers text, usage and cost; rate-limit headers are readable", async () => {
  /** @type {import("../src/gateway/client.js").ResponseInfo[]} */
  const seen = [];
  const gateway = gatewayFor("user", { onResponse: (info) => seen.push(info) });
  const answer = await gateway.generateText({ modelId: config.models.chat, prompt: "hi" });
  assert.equal(answer.text, config.reply);
  assert.equal(answer.modelId, config.models.chat);
  assert.ok((answer.usage.totalTokens ?? 0) > 0);
  assert.equal(answer.cost?.currency, "USD");
  const info = seen.at(-1);
  assert.ok(info?.rateLimit && info.rateLimit.limit > 0 && info.rateLimit.remaining < info.rateLimit.limit, JSON.stringify(info));
  assert.ok(info.rateLimit.reset > Date.now() / 1000 - 1);
});

test("streamText: deltas as they arrive, then one done event with usage and cost", async () => {
  const gateway = gatewayFor("user");
  const deltas = [];
  let done = null;
  for await (const event of gateway.streamText({ modelId: config.models.chat, prompt: "hi" })) {
    if (event.type === "delta") {
      assert.equal(done, null, "a delta after done");
      deltas.push(event.text);
    } else {
      done = event;
    }
  }
  assert.ok(deltas.length > 1, `one piece only: ${deltas}`);
  assert.equal(deltas.join(""), config.reply);
  assert.ok(done && done.type === "done");
  assert.equal(done.finishReason, "stop");
  assert.ok((done.usage.completionTokens ?? 0) > 0 && done.cost?.currency === "USD");
});

test("an error event mid-stream is thrown as a GatewayError after the text before it", async () => {
  const gateway = gatewayFor("user");
  const deltas = [];
  const err = await failure(async () => {
    for await (const event of gateway.streamText({ modelId: config.models.broken, prompt: "hi" })) {
      if (event.type === "delta") deltas.push(event.text);
    }
  });
  assert.equal(err.code, "PROVIDER_ERROR");
  assert.equal(err.status, 200); // the stream had started: the failure came as an event
  assert.ok(err.requestId);
  assert.ok(deltas.length > 0, "no text before the error");
});

test("aborting a stream stops it at once with ABORTED (the fake sees its connection closed)", async () => {
  const gateway = gatewayFor("user");
  const controller = new AbortController();
  const deltas = [];
  const started = Date.now();
  const err = await failure(async () => {
    for await (const event of gateway.streamText({ modelId: config.models.slow, prompt: "hi" }, { signal: controller.signal })) {
      if (event.type === "delta") deltas.push(event.text);
      if (deltas.length === 2) controller.abort();
    }
  });
  assert.equal(err.code, "ABORTED");
  assert.equal(deltas.length, 2);
  assert.ok(Date.now() - started < 5000, "the abort waited for the stream");
});

test("breaking out of the loop closes the stream as well", async () => {
  const gateway = gatewayFor("user");
  for await (const event of gateway.streamText({ modelId: config.models.slow2, prompt: "hi" })) {
    if (event.type === "delta") break;
  }
});

test("a viewer is refused with the gateway's typed error", async () => {
  const err = await failure(() => gatewayFor("viewer").generateText({ modelId: config.models.chat, prompt: "hi" }));
  assert.equal(err.code, "PERMISSION_DENIED");
  assert.equal(err.status, 403);
  assert.ok(err.message.length > 0 && err.requestId);
});

test("a bad field is a 400 naming it", async () => {
  const err = await failure(() => gatewayFor("user").generateText({ modelId: config.models.chat, prompt: "hi", temperature: 7 }));
  assert.equal(err.code, "INVALID_ARGUMENT");
  assert.deepEqual(err.fields, ["temperature"]);
});

test("a token refused with 401 is refreshed once, then the call succeeds", async () => {
  const user = auths.user.currentUser;
  assert.ok(user);
  const asked = [];
  const gateway = createGateway({
    baseUrl: config.functionsUrl,
    getIdToken: async (force) => {
      asked.push(force);
      return force ? user.getIdToken(true) : "not-a-token";
    },
  });
  const list = await gateway.listModels();
  assert.ok(list.models.length > 0);
  assert.deepEqual(asked, [false, true]);
});

test("a token that stays refused is a 401 after one refresh, not a loop", async () => {
  let calls = 0;
  const gateway = createGateway({ baseUrl: config.functionsUrl, getIdToken: async () => (calls++, "not-a-token") });
  const err = await failure(() => gateway.listModels());
  assert.equal(err.code, "UNAUTHENTICATED");
  assert.equal(err.status, 401);
  assert.equal(calls, 2);
});

test("a token near its expiry is refreshed before it is sent", async () => {
  const user = auths.user.currentUser;
  assert.ok(user);
  const soon = Math.floor(Date.now() / 1000) + 30;
  const expiring = `e30.${Buffer.from(JSON.stringify({ exp: soon })).toString("base64url")}.x`;
  const sent = [];
  const gateway = createGateway({
    baseUrl: config.functionsUrl,
    getIdToken: async (force) => (force ? user.getIdToken(true) : expiring),
    fetch: (url, init) => {
      sent.push(/** @type {Record<string, string>} */ (init?.headers).Authorization);
      return fetch(url, init);
    },
  });
  await gateway.listModels();
  assert.equal(sent.length, 1);
  assert.notEqual(sent[0], `Bearer ${expiring}`);
});

test("429: Retry-After is waited and the call retried when asked, else carried by the error", async () => {
  let limited = 0;
  /** @type {typeof fetch} */
  const oneLimit = async (url, init) => {
    if (limited++ === 0) {
      const body = { error: { code: "RATE_LIMITED", message: "Rate limit exceeded", details: {} } };
      return new Response(JSON.stringify(body), { status: 429, headers: { "Retry-After": "1", "Content-Type": "application/json" } });
    }
    return fetch(url, init);
  };
  const patient = gatewayFor("user", { fetch: oneLimit, retryOn429: { maxWaitSeconds: 5 } });
  const started = Date.now();
  const answer = await patient.generateText({ modelId: config.models.chat, prompt: "hi" });
  assert.equal(answer.text, config.reply);
  assert.ok(Date.now() - started >= 1000, "did not wait Retry-After");

  limited = 0;
  const err = await failure(() => gatewayFor("user", { fetch: oneLimit }).generateText({ modelId: config.models.chat, prompt: "hi" }));
  assert.equal(err.code, "RATE_LIMITED");
  assert.equal(err.retryAfter, 1);
});

test("a real limit: the gateway's 429 with its Retry-After, longer than the caller wants to wait", async () => {
  const gateway = gatewayFor("user", { retryOn429: { maxWaitSeconds: 0.5 } });
  await gateway.generateText({ modelId: config.models.limited, prompt: "hi" });
  const err = await failure(() => gateway.generateText({ modelId: config.models.limited, prompt: "hi" }));
  assert.equal(err.code, "RATE_LIMITED");
  assert.equal(err.status, 429);
  assert.ok(err.retryAfter !== null && err.retryAfter > 0.5, String(err.retryAfter));
  assert.equal(gateway.lastResponse?.rateLimit?.remaining, 0);
});

test("generateImage stores an image the browser can download", async () => {
  const answer = await gatewayFor("user").generateImage({ modelId: config.models.image, prompt: "a fox", seed: 1 });
  assert.equal(answer.images.length, 1);
  const [image] = answer.images;
  const bytes = new Uint8Array(await (await fetch(image.url)).arrayBuffer());
  assert.deepEqual([...bytes.slice(1, 4)], [0x50, 0x4e, 0x47]); // PNG
  assert.equal(image.contentType, "image/png");
});

test("embed: vectors from the openai function with the same ID token; its errors name the field", async () => {
  const gateway = gatewayFor("user");
  const answer = await gateway.embed({ model: config.models.embed, input: ["a", "b"], dimensions: 4 });
  assert.deepEqual(answer.data.map((d) => d.index), [0, 1]);
  assert.ok(answer.data.every((d) => Array.isArray(d.embedding) && d.embedding.length === 4));
  assert.ok(answer.usage.prompt_tokens > 0);
  const err = await failure(() => gateway.embed({ model: config.models.chat, input: "a" }));
  assert.equal(err.status, 400);
  assert.equal(err.code, "INVALID_ARGUMENT");
  assert.deepEqual(err.fields, ["model"]);
});

test("conversations: a stream's X-Conversation-Id before its text, then list, get, rename, delete", async () => {
  const gateway = gatewayFor("user");
  const stream = gateway.streamText({ modelId: config.models.chat, prompt: "remember this", saveHistory: true });
  const first = await stream.next();
  const id = gateway.lastResponse?.conversationId;
  assert.ok(id, "no X-Conversation-Id");
  assert.equal(first.value?.type, "delta");
  let done = null;
  for await (const event of stream) if (event.type === "done") done = event;
  assert.equal(done?.conversationId, id);

  const { conversations } = await gateway.conversations.list({ limit: 10 });
  assert.equal(conversations[0].id, id);
  const detail = await gateway.conversations.get(id, { limit: 10 });
  assert.deepEqual(detail.messages.map((m) => [m.role, m.content]), [["user", "remember this"], ["assistant", config.reply]]);
  assert.equal((await gateway.conversations.rename(id, "Renamed")).title, "Renamed");
  // Another user's conversation is not theirs to read, admins included.
  assert.equal((await failure(() => gatewayFor("admin").conversations.get(id))).code, "NOT_FOUND");
  assert.equal(await gateway.conversations.delete(id), null);
  assert.equal((await failure(() => gateway.conversations.get(id))).code, "NOT_FOUND");
});

test("usage shows the user's own records", async () => {
  const report = await gatewayFor("user").usage({ limit: 5 });
  assert.ok(report.totals.requests > 0);
  assert.ok(report.records.length > 0 && report.records.every((r) => r.uid === report.uid));
});

test("usageMetrics: admins read the dashboards' numbers, users may not", async () => {
  const to = new Date().toISOString().slice(0, 10);
  const report = await gatewayFor("admin").usageMetrics({ to });
  assert.equal(report.to, to);
  assert.equal(report.days.length, 30);
  assert.ok(report.totals.requests > 0 && report.totals.latencyMs.count > 0, JSON.stringify(report.totals));
  const chat = report.byModel.find((m) => m.key === config.models.chat);
  assert.ok(chat && chat.daily.at(-1)?.date === to, JSON.stringify(report.byModel));
  assert.ok(report.byRoute.some((r) => r.key === "generate_text"));
  const denied = await failure(() => gatewayFor("user").usageMetrics());
  assert.equal(denied.code, "PERMISSION_DENIED");
  const bad = await failure(() => gatewayFor("admin").usageMetrics({ from: "2026-02-30" }));
  assert.equal(bad.status, 400);
});

test("admin: models CRUD, providers list and test, discovery", async () => {
  const gateway = gatewayFor("admin");
  const id = `client-test-${Date.now()}`;
  const created = await gateway.models.create({ id, name: "n", provider: config.providers.chat, type: "text", enabled: false });
  assert.equal(created.id, id);
  const patched = await gateway.models.update(id, { enabled: true, displayName: "Client test" });
  assert.equal(patched.enabled, true);
  assert.equal((await gateway.models.get(id)).displayName, "Client test");
  assert.equal(await gateway.models.delete(id), null);
  const gone = await failure(() => gateway.models.get(id));
  assert.equal(gone.code, "NOT_FOUND");

  const providers = await gateway.providers.list();
  assert.ok(JSON.stringify(providers).includes(config.providers.chat));
  const check = await gateway.providers.test(config.providers.chat);
  assert.ok(check && typeof check === "object");
  const discovered = await gateway.providers.discover(config.providers.chat);
  assert.ok(JSON.stringify(discovered).length > 2);

  const denied = await failure(() => gatewayFor("user").models.delete(config.models.chat));
  assert.equal(denied.code, "PERMISSION_DENIED");
});

test("health needs no token", async () => {
  const health = await createGateway({ baseUrl: config.functionsUrl }).health();
  assert.ok(["healthy", "degraded"].includes(health.status), JSON.stringify(health));
});
