// Organisation budgets in the client: GET /usage/org and a member's quota override.
import assert from "node:assert/strict";
import { test } from "node:test";

import { createGateway } from "../src/gateway/index.js";

function recording() {
  /** @type {{ url: string, method: string, headers: Record<string, string>, body: unknown }[]} */
  const calls = [];
  const gateway = createGateway({
    baseUrl: "https://gw.example",
    getIdToken: async () => "id-token",
    org: "acme",
    fetch: async (url, init) => {
      calls.push({
        url: String(url),
        method: String(init?.method),
        headers: /** @type {Record<string, string>} */ (init?.headers),
        body: init?.body ? JSON.parse(String(init.body)) : undefined,
      });
      return new Response("{}", { status: 200, headers: { "Content-Type": "application/json" } });
    },
  });
  return { gateway, calls };
}

test("usageOrg reads GET /usage/org for the client's organisation", async () => {
  const { gateway, calls } = recording();
  await gateway.usageOrg({ from: "2026-01-01", to: "2026-01-31" });
  await gateway.usageOrg();
  assert.equal(calls[0].method, "GET");
  assert.equal(calls[0].url, "https://gw.example/usage/org?from=2026-01-01&to=2026-01-31");
  assert.equal(calls[1].url, "https://gw.example/usage/org");
  assert.equal(calls[0].headers["X-Org-Id"], "acme");
});

test("members.update takes a role or a patch with a quota", async () => {
  const { gateway, calls } = recording();
  await gateway.orgs.members.update("acme", "u1", "viewer");
  await gateway.orgs.members.update("acme", "u1", { quota: { dailyTokens: 500, dailyCostUsd: 0.5 } });
  await gateway.orgs.members.update("acme", "u1", { quota: null });
  assert.deepEqual(calls.map((c) => c.body), [{ role: "viewer" }, { quota: { dailyTokens: 500, dailyCostUsd: 0.5 } }, { quota: null }]);
  assert.equal(calls[1].url, "https://gw.example/orgs/acme/members/u1");
});
