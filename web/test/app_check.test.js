// App Check in the client: which token each call carries, and none for health.
import assert from "node:assert/strict";
import { test } from "node:test";

import { createGateway } from "../src/gateway/index.js";

/** A gateway whose fetch records each call's headers and answers `body`. */
function recording(options = {}) {
  /** @type {{ url: string, headers: Record<string, string> }[]} */
  const calls = [];
  /** @type {boolean[]} */
  const asked = [];
  const gateway = createGateway({
    baseUrl: "https://gw.example",
    getIdToken: async () => "id-token",
    getAppCheckToken: async (limited) => {
      asked.push(limited);
      return limited ? `limited-${asked.length}` : "app-check";
    },
    fetch: async (url, init) => {
      calls.push({ url: String(url), headers: /** @type {Record<string, string>} */ (init?.headers) });
      return new Response(JSON.stringify({ models: [], nextPageToken: null, status: "healthy" }), {
        status: 200,
        headers: { "Content-Type": "application/json" },
      });
    },
    ...options,
  });
  return { gateway, calls, asked };
}

test("every call but health carries the App Check token", async () => {
  const { gateway, calls } = recording();
  await gateway.listModels();
  await gateway.health();
  assert.equal(calls[0].headers["X-Firebase-AppCheck"], "app-check");
  assert.equal(calls[1].headers["X-Firebase-AppCheck"], undefined);
  assert.equal(calls[1].headers.Authorization, undefined);
});

test("limited-use tokens for the generation functions only, a new one per call", async () => {
  const { gateway, calls, asked } = recording({ limitedUseAppCheck: true });
  await gateway.listModels();
  await gateway.generateText({ modelId: "m", prompt: "a" }).catch(() => {});
  await gateway.generateText({ modelId: "m", prompt: "b" }).catch(() => {});
  assert.deepEqual(asked, [false, true, true]);
  assert.deepEqual(
    calls.map((c) => c.headers["X-Firebase-AppCheck"]),
    ["app-check", "limited-2", "limited-3"],
  );
});
