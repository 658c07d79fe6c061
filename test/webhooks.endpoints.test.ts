/**
 * The webhook endpoint routes: happy paths, bad input, no token, someone else's endpoint. URLs are
 * public address literals, so the SSRF guard passes them without DNS (and nothing is ever sent:
 * these users have no events).
 */
import { describe, expect, it } from "vitest";
import { MAX_ENDPOINTS_PER_USER } from "../shared/webhooks/endpoints.ts";
import { makeUser, type TestUser, useApp } from "./support/app.ts";
import { expectFieldError, expectProblem } from "./support/auth.ts";

const t = await useApp();
const URL_A = "https://93.184.215.14/hooks";
const URL_B = "https://1.1.1.1/other";

async function create(user: TestUser, body: Record<string, unknown> = { url: URL_A, events: ["*"] }) {
  const res = await t.request("POST", "/api/v1/webhook-endpoints", { token: user.token, body });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

describe("POST /api/v1/webhook-endpoints", () => {
  it("creates an endpoint and shows its secret once", async () => {
    const user = await makeUser(t.services, { role: "merchant" });
    const res = await t.request("POST", "/api/v1/webhook-endpoints", {
      token: user.token,
      body: { url: URL_A, events: ["payment.succeeded", "refund.failed"], description: "orders" },
    });
    expect(res.status).toBe(201);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.body).toMatchObject({
      object: "webhook_endpoint",
      url: URL_A,
      events: ["payment.succeeded", "refund.failed"],
      description: "orders",
      enabled: true,
      disabled_reason: null,
      previous_secret_expires_at: null,
    });
    expect(res.body.id).toMatch(/^we_[0-9A-Z]{26}$/);
    expect(res.body.secret).toMatch(/^whsec_/);
    expect(Buffer.from(res.body.secret.slice(6), "base64")).toHaveLength(32);
    // Never again: not in a read, not in a list.
    const got = await t.request("GET", `/api/v1/webhook-endpoints/${res.body.id}`, { token: user.token });
    expect(got.status).toBe(200);
    expect(got.body).not.toHaveProperty("secret");
    expect(JSON.stringify(got.body)).not.toContain(res.body.secret.slice(6));
    const list = await t.request("GET", "/api/v1/webhook-endpoints", { token: user.token });
    expect(list.body.data[0]).not.toHaveProperty("secret");
  });

  it("lets any role own endpoints, and dedupes the event list", async () => {
    for (const role of ["customer", "merchant", "ops", "admin"] as const) {
      const user = await makeUser(t.services, { role });
      const body = await create(user, { url: URL_B, events: ["payment.failed", "payment.failed"] });
      expect(body.events).toEqual(["payment.failed"]);
    }
  });

  it("validates the body with JSON pointers", async () => {
    const user = await makeUser(t.services);
    const post = (body: unknown) =>
      t.request("POST", "/api/v1/webhook-endpoints", { token: user.token, body });
    expectFieldError(await post({ url: URL_A, events: ["payment.exploded"] }), "/events/0");
    expectFieldError(await post({ url: URL_A, events: ["payment.succeeded", "nope"] }), "/events/1");
    expectFieldError(await post({ url: URL_A, events: [] }), "/events");
    expectFieldError(await post({ url: URL_A, events: "*" }), "/events");
    expectFieldError(await post({ url: URL_A, events: ["*", "payment.failed"] }), "/events");
    expectFieldError(await post({ events: ["*"] }), "/url");
    expectFieldError(await post({ url: `https://1.1.1.1/${"a".repeat(2050)}`, events: ["*"] }), "/url");
    expectFieldError(await post({ url: URL_A, events: ["*"], description: 5 }), "/description");
    expectFieldError(await post({ url: URL_A, events: ["*"], secret: "whsec_mine" }), "");
    const malformed = await t.request("POST", "/api/v1/webhook-endpoints", {
      token: user.token,
      rawBody: "{not json",
      headers: { "content-type": "application/json" },
    });
    expectProblem(malformed, 400);
    const list = await t.request("GET", "/api/v1/webhook-endpoints", { token: user.token });
    expect(list.body.data).toEqual([]);
  });

  it(`allows at most ${MAX_ENDPOINTS_PER_USER} endpoints per user`, async () => {
    const user = await makeUser(t.services);
    await Promise.all(Array.from({ length: MAX_ENDPOINTS_PER_USER }, () => create(user)));
    const res = await t.request("POST", "/api/v1/webhook-endpoints", {
      token: user.token,
      body: { url: URL_A, events: ["*"] },
    });
    expectProblem(res, 422, "webhook_endpoint_limit_reached");
  });

  it("needs a token", async () => {
    const res = await t.request("POST", "/api/v1/webhook-endpoints", { body: { url: URL_A, events: ["*"] } });
    expectProblem(res, 401);
    const bad = await t.request("POST", "/api/v1/webhook-endpoints", {
      token: "not-a-token",
      body: { url: URL_A, events: ["*"] },
    });
    expectProblem(bad, 401);
  });
});

describe("GET /api/v1/webhook-endpoints", () => {
  it("lists the caller's own endpoints, newest first, paginated; admin sees all", async () => {
    const user = await makeUser(t.services);
    const other = await makeUser(t.services);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await create(user)).id);
    const theirs = await create(other);
    const page1 = await t.request("GET", "/api/v1/webhook-endpoints?limit=2", { token: user.token });
    expect(page1.status).toBe(200);
    expect(page1.body.data.map((e: any) => e.id)).toEqual([ids[2], ids[1]]);
    expect(page1.body.has_more).toBe(true);
    const page2 = await t.request(
      "GET",
      `/api/v1/webhook-endpoints?limit=2&cursor=${page1.body.next_cursor}`,
      {
        token: user.token,
      },
    );
    expect(page2.body).toMatchObject({ data: [{ id: ids[0] }], has_more: false, next_cursor: null });
    // ops reads events, not other people's endpoints; admin manages all.
    const ops = await makeUser(t.services, { role: "ops" });
    expect((await t.request("GET", "/api/v1/webhook-endpoints", { token: ops.token })).body.data).toEqual([]);
    const admin = await makeUser(t.services, { role: "admin" });
    const all = await t.request("GET", "/api/v1/webhook-endpoints?limit=100", { token: admin.token });
    expect(all.body.data.map((e: any) => e.id)).toEqual(expect.arrayContaining([theirs.id, ...ids]));
  });

  it("rejects bad paging and no token", async () => {
    const user = await makeUser(t.services);
    expectFieldError(
      await t.request("GET", "/api/v1/webhook-endpoints?limit=0", { token: user.token }),
      "/query/limit",
    );
    expectFieldError(
      await t.request("GET", "/api/v1/webhook-endpoints?cursor=bm9wZQ", { token: user.token }),
      "/query/cursor",
    );
    expectProblem(await t.request("GET", "/api/v1/webhook-endpoints"), 401);
  });
});

describe("GET/PATCH/DELETE /api/v1/webhook-endpoints/{id}", () => {
  it("gets, updates and deletes the caller's endpoint", async () => {
    const user = await makeUser(t.services);
    const ep = await create(user, { url: URL_A, events: ["*"], description: "first" });
    const patched = await t.request("PATCH", `/api/v1/webhook-endpoints/${ep.id}`, {
      token: user.token,
      body: { url: URL_B, events: ["refund.succeeded"], description: null },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({
      id: ep.id,
      url: URL_B,
      events: ["refund.succeeded"],
      description: null,
    });
    expect(Date.parse(patched.body.updated_at)).toBeGreaterThanOrEqual(Date.parse(ep.updated_at));
    // Only what is given changes.
    const disabled = await t.request("PATCH", `/api/v1/webhook-endpoints/${ep.id}`, {
      token: user.token,
      body: { enabled: false },
    });
    expect(disabled.body).toMatchObject({
      url: URL_B,
      events: ["refund.succeeded"],
      enabled: false,
      disabled_reason: "Disabled by its owner.",
    });
    const enabled = await t.request("PATCH", `/api/v1/webhook-endpoints/${ep.id}`, {
      token: user.token,
      body: { enabled: true, description: "back" },
    });
    expect(enabled.body).toMatchObject({ enabled: true, disabled_reason: null, description: "back" });
    const unchanged = await t.request("PATCH", `/api/v1/webhook-endpoints/${ep.id}`, {
      token: user.token,
      body: {},
    });
    expect(unchanged.body).toMatchObject({ url: URL_B, description: "back", enabled: true });

    const got = await t.request("GET", `/api/v1/webhook-endpoints/${ep.id}`, { token: user.token });
    expect(got.body).toMatchObject({ id: ep.id, url: URL_B, description: "back" });

    const del = await t.request("DELETE", `/api/v1/webhook-endpoints/${ep.id}`, { token: user.token });
    expect(del.status).toBe(200);
    expect(del.body).toEqual({ id: ep.id, object: "webhook_endpoint", deleted: true });
    expectProblem(await t.request("GET", `/api/v1/webhook-endpoints/${ep.id}`, { token: user.token }), 404);
    expectProblem(
      await t.request("DELETE", `/api/v1/webhook-endpoints/${ep.id}`, { token: user.token }),
      404,
    );
    expectProblem(
      await t.request("PATCH", `/api/v1/webhook-endpoints/${ep.id}`, {
        token: user.token,
        body: { enabled: true },
      }),
      404,
    );
    expect((await t.request("GET", "/api/v1/webhook-endpoints", { token: user.token })).body.data).toEqual(
      [],
    );
  });

  it("validates a PATCH", async () => {
    const user = await makeUser(t.services);
    const ep = await create(user);
    const patch = (body: unknown) =>
      t.request("PATCH", `/api/v1/webhook-endpoints/${ep.id}`, { token: user.token, body });
    expectFieldError(await patch({ events: ["payment.nope"] }), "/events/0");
    expectFieldError(await patch({ events: [] }), "/events");
    expectFieldError(await patch({ enabled: "yes" }), "/enabled");
    expectFieldError(await patch({ url: "gopher://1.1.1.1/" }), "/url");
    expectFieldError(await patch({ secret: "x" }), "");
    const got = await t.request("GET", `/api/v1/webhook-endpoints/${ep.id}`, { token: user.token });
    expect(got.body).toMatchObject({ url: URL_A, events: ["*"], enabled: true });
  });

  it("hides another user's endpoint (404) but lets an admin manage it", async () => {
    const owner = await makeUser(t.services);
    const other = await makeUser(t.services, { role: "merchant" });
    const ops = await makeUser(t.services, { role: "ops" });
    const admin = await makeUser(t.services, { role: "admin" });
    const ep = await create(owner);
    for (const intruder of [other, ops]) {
      const opts = { token: intruder.token };
      for (const res of [
        await t.request("GET", `/api/v1/webhook-endpoints/${ep.id}`, opts),
        await t.request("PATCH", `/api/v1/webhook-endpoints/${ep.id}`, { ...opts, body: { enabled: false } }),
        await t.request("POST", `/api/v1/webhook-endpoints/${ep.id}/rotate-secret`, opts),
        await t.request("GET", `/api/v1/webhook-endpoints/${ep.id}/deliveries`, opts),
        await t.request("DELETE", `/api/v1/webhook-endpoints/${ep.id}`, opts),
      ]) {
        expectProblem(res, 404, "webhook_endpoint_not_found");
      }
    }
    const still = await t.request("GET", `/api/v1/webhook-endpoints/${ep.id}`, { token: owner.token });
    expect(still.body).toMatchObject({ enabled: true });
    const byAdmin = await t.request("PATCH", `/api/v1/webhook-endpoints/${ep.id}`, {
      token: admin.token,
      body: { description: "checked by admin" },
    });
    expect(byAdmin.status).toBe(200);
    expect(
      (await t.request("DELETE", `/api/v1/webhook-endpoints/${ep.id}`, { token: admin.token })).status,
    ).toBe(200);
    expectProblem(
      await t.request("GET", "/api/v1/webhook-endpoints/we_00000000000000000000000000", {
        token: owner.token,
      }),
      404,
    );
  });

  it("needs a token and a sane id", async () => {
    const user = await makeUser(t.services);
    const ep = await create(user);
    expectProblem(await t.request("GET", `/api/v1/webhook-endpoints/${ep.id}`), 401);
    expectProblem(
      await t.request("PATCH", `/api/v1/webhook-endpoints/${ep.id}`, { body: { enabled: false } }),
      401,
    );
    expectProblem(await t.request("DELETE", `/api/v1/webhook-endpoints/${ep.id}`), 401);
    expectFieldError(
      await t.request("GET", `/api/v1/webhook-endpoints/${"x".repeat(65)}`, { token: user.token }),
      "/param/id",
    );
  });
});

describe("POST /api/v1/webhook-endpoints/{id}/rotate-secret", () => {
  it("returns a new secret once and keeps the old one signing for 24 h", async () => {
    const user = await makeUser(t.services);
    const ep = await create(user);
    const res = await t.request("POST", `/api/v1/webhook-endpoints/${ep.id}/rotate-secret`, {
      token: user.token,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.body.secret).toMatch(/^whsec_/);
    expect(res.body.secret).not.toBe(ep.secret);
    const expires = Date.parse(res.body.previous_secret_expires_at);
    expect(Math.abs(expires - Date.now() - 24 * 3600_000)).toBeLessThan(60_000);
    const [row] = await t.services.sql`
      select secret, previous_secret from webhook_endpoints where id = ${ep.id}`;
    expect(row).toEqual({ secret: res.body.secret, previous_secret: ep.secret });
    const got = await t.request("GET", `/api/v1/webhook-endpoints/${ep.id}`, { token: user.token });
    expect(got.body).not.toHaveProperty("secret");
    expect(got.body.previous_secret_expires_at).toBe(res.body.previous_secret_expires_at);
    // A second rotation retires the oldest: at most two secrets are active.
    const again = await t.request("POST", `/api/v1/webhook-endpoints/${ep.id}/rotate-secret`, {
      token: user.token,
    });
    const [row2] = await t.services.sql`
      select secret, previous_secret from webhook_endpoints where id = ${ep.id}`;
    expect(row2).toEqual({ secret: again.body.secret, previous_secret: res.body.secret });
  });

  it("needs a token and a visible endpoint", async () => {
    const user = await makeUser(t.services);
    const ep = await create(user);
    expectProblem(await t.request("POST", `/api/v1/webhook-endpoints/${ep.id}/rotate-secret`), 401);
    expectFieldError(
      await t.request("POST", `/api/v1/webhook-endpoints/${"x".repeat(65)}/rotate-secret`, {
        token: user.token,
      }),
      "/param/id",
    );
    expectProblem(
      await t.request("POST", "/api/v1/webhook-endpoints/we_missing/rotate-secret", { token: user.token }),
      404,
    );
  });
});

describe("GET /api/v1/webhook-endpoints/{id}/deliveries", () => {
  it("lists attempts newest first, paginated", async () => {
    const user = await makeUser(t.services);
    const ep = await create(user);
    const empty = await t.request("GET", `/api/v1/webhook-endpoints/${ep.id}/deliveries`, {
      token: user.token,
    });
    expect(empty.status).toBe(200);
    expect(empty.body).toEqual({ data: [], has_more: false, next_cursor: null });

    // Attempts as the workers record them (the delivery tests make real ones).
    const [evt] = await t.services.sql<{ id: string }[]>`
      insert into events (id, type, user_ids, data, dispatched_at)
      values (${`evt_${ep.id.slice(3)}`}, 'payment.succeeded', ${[user.id]}::text[], '{"object":{}}'::jsonb, now())
      returning id`;
    const [d] = await t.services.sql<{ id: string }[]>`
      insert into webhook_deliveries (id, event_id, endpoint_id, status, attempt)
      values (${`whd_${ep.id.slice(3)}`}, ${evt!.id}, ${ep.id}, 'failed', 3) returning id`;
    for (const [attempt, code, error] of [
      [1, null, "ECONNREFUSED"],
      [2, 500, null],
      [3, 503, null],
    ] as const) {
      await t.services.sql`
        insert into webhook_attempts (delivery_id, event_id, endpoint_id, attempt, status_code, error, duration_ms)
        values (${d!.id}, ${evt!.id}, ${ep.id}, ${attempt}, ${code}, ${error}, ${10 * attempt})`;
    }
    const page1 = await t.request("GET", `/api/v1/webhook-endpoints/${ep.id}/deliveries?limit=2`, {
      token: user.token,
    });
    expect(page1.body.data).toMatchObject([
      { delivery_id: d!.id, event_id: evt!.id, attempt: 3, status_code: 503, error: null, duration_ms: 30 },
      { attempt: 2, status_code: 500 },
    ]);
    expect(page1.body.has_more).toBe(true);
    const page2 = await t.request(
      "GET",
      `/api/v1/webhook-endpoints/${ep.id}/deliveries?limit=2&cursor=${page1.body.next_cursor}`,
      { token: user.token },
    );
    expect(page2.body).toMatchObject({
      data: [{ attempt: 1, status_code: null, error: "ECONNREFUSED" }],
      has_more: false,
    });
    expectFieldError(
      await t.request("GET", `/api/v1/webhook-endpoints/${ep.id}/deliveries?cursor=%24%24`, {
        token: user.token,
      }),
      "/query/cursor",
    );
    expectFieldError(
      await t.request("GET", `/api/v1/webhook-endpoints/${ep.id}/deliveries?limit=101`, {
        token: user.token,
      }),
      "/query/limit",
    );
    expectProblem(await t.request("GET", `/api/v1/webhook-endpoints/${ep.id}/deliveries`), 401);
  });
});
