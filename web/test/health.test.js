// The client's health(): an unhealthy gateway's 503 is still its report (the admin pages show which provider is down).
import assert from "node:assert/strict";
import { test } from "node:test";

import { GatewayError, createGateway } from "../src/gateway/index.js";

/** @param {number} status @param {unknown} body */
const answering = (status, body) =>
  createGateway({
    baseUrl: "https://gw.example",
    getIdToken: async () => "id-token",
    fetch: async () => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } }),
  });

test("a 503 health report is returned, not thrown", async () => {
  const report = { status: "unhealthy", summary: { healthy: 0, total: 1 }, providers: { openai: { status: "unhealthy", error: "unreachable" } } };
  assert.deepEqual(await answering(503, report).health(), report);
});

test("other failures still throw", async () => {
  await assert.rejects(answering(500, { error: { code: "INTERNAL", message: "boom", details: {} } }).health(), GatewayError);
});
