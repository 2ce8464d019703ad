// health's 503 is a report (every provider down), not an error: the chat's model picker reads it to say which are down.
import assert from "node:assert/strict";
import { test } from "node:test";

import { GatewayError, createGateway } from "../src/gateway/index.js";

const REPORT = { status: "unhealthy", providers: { openai: { status: "unhealthy", error: "unreachable" } }, summary: { healthy: 0, total: 1 } };

/** A gateway whose every answer is `status` with `body`. @param {number} status @param {unknown} body */
function answering(status, body) {
  return createGateway({
    baseUrl: "https://gw.example",
    getIdToken: async () => "id-token",
    fetch: async () => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } }),
  });
}

test("health answers its report when every provider is down (503)", async () => {
  assert.deepEqual(await answering(503, REPORT).health(), REPORT);
});

test("a 503 from any other function is still an error", async () => {
  const body = { error: { code: "UNAVAILABLE", message: "busy", details: {} } };
  await assert.rejects(answering(503, body).listModels(), (err) => err instanceof GatewayError && err.code === "UNAVAILABLE");
});
