// Organisations in the client: X-Org-Id on every signed call, and the orgs routes.
import assert from "node:assert/strict";
import { test } from "node:test";

import { createGateway } from "../src/gateway/index.js";

/** A gateway whose fetch records each call and answers `{}`. */
function recording(options = {}) {
  /** @type {{ url: string, method: string, headers: Record<string, string>, body: unknown }[]} */
  const calls = [];
  const gateway = createGateway({
    baseUrl: "https://gw.example",
    getIdToken: async () => "id-token",
    fetch: async (url, init) => {
      calls.push({
        url: String(url),
        method: String(init?.method),
        headers: /** @type {Record<string, string>} */ (init?.headers),
        body: init?.body ? JSON.parse(String(init.body)) : undefined,
      });
      return new Response("{}", { status: 200, headers: { "Content-Type": "application/json" } });
    },
    ...options,
  });
  return { gateway, calls };
}

test("the org option is sent as X-Org-Id on every signed call, and none without it", async () => {
  let current = "acme";
  const { gateway, calls } = recording({ org: () => current });
  await gateway.listModels();
  current = "globex";
  await gateway.usage();
  await gateway.health();
  assert.equal(calls[0].headers["X-Org-Id"], "acme");
  assert.equal(calls[1].headers["X-Org-Id"], "globex");
  assert.equal(calls[2].headers["X-Org-Id"], undefined);
  const plain = recording();
  await plain.gateway.listModels();
  assert.equal(plain.calls[0].headers["X-Org-Id"], undefined);
});

test("orgs routes", async () => {
  const { gateway, calls } = recording({ org: "acme" });
  await gateway.orgs.list({ limit: 2 });
  await gateway.orgs.create({ id: "acme", name: "Acme" });
  await gateway.orgs.update("acme", { name: "Acme 2" });
  await gateway.orgs.members.add("acme", { email: "a@b.c", role: "admin" });
  await gateway.orgs.members.update("acme", "u1", "viewer");
  await gateway.orgs.members.remove("acme", "u1");
  await gateway.orgs.setDefault("acme");
  await gateway.orgs.delete("acme");
  assert.deepEqual(
    calls.map((c) => `${c.method} ${c.url.replace("https://gw.example", "")}`),
    [
      "GET /orgs?limit=2",
      "POST /orgs",
      "PATCH /orgs/acme",
      "POST /orgs/acme/members",
      "PATCH /orgs/acme/members/u1",
      "DELETE /orgs/acme/members/u1",
      "PUT /orgs/default",
      "DELETE /orgs/acme",
    ],
  );
  assert.deepEqual(calls[4].body, { role: "viewer" });
  assert.deepEqual(calls[6].body, { orgId: "acme" });
});
