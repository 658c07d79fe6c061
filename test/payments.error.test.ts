import { describe, expect, it } from "vitest";
import { createApp } from "../api/app.ts";
import { hashPassword } from "../shared/auth/passwords.ts";
import { createRedis } from "../shared/redis.ts";
import { makeUser as makeTestUser, useApp } from "./support/app.ts";
import { uniqueAddress } from "./support/auth.ts";
import { key, pay } from "./support/payments.ts";

const t = await useApp();

/** Payments touching this file's users (other test files create payments in the same database at once). */
async function paymentCount(): Promise<number> {
  const [row] = await t.services.sql<{ n: number }[]>`
    select count(*)::int as n from payments p join accounts a on a.account_number in (p.from_account, p.to_account)
     where a.owner_id = any(${[...users]}::text[])`;
  return row!.n;
}

const users = new Set<string>();
async function makeUser(...args: Parameters<typeof makeTestUser>): ReturnType<typeof makeTestUser> {
  const user = await makeTestUser(...args);
  users.add(user.id);
  return user;
}

describe("bad input is a problem+json error and creates nothing", async () => {
  const alice = await makeUser(t.services, { balance: 10_000n });
  const bob = await makeUser(t.services);
  const euro = await makeUser(t.services, { currency: "EUR" });
  const base = {
    from_account: alice.account.account_number,
    to_account: bob.account.account_number,
    amount: "10.00",
    currency: "USD",
  };

  const cases: [string, Record<string, unknown>, number, string, string | null][] = [
    ["too many decimals", { amount: "10.001" }, 422, "amount_invalid_precision", "/amount"],
    ["zero", { amount: "0" }, 422, "amount_not_positive", "/amount"],
    ["negative", { amount: "-5.00" }, 422, "amount_not_positive", "/amount"],
    ["non-numeric", { amount: "ten" }, 422, "amount_invalid", "/amount"],
    ["a boolean", { amount: true }, 422, "validation_failed", "/amount"],
    ["10^14 minor units", { amount: "1000000000000.00" }, 422, "amount_too_large", "/amount"],
    ["unknown currency", { currency: "XYZ" }, 422, "unsupported_currency", "/currency"],
    ["currency differs from the accounts'", { currency: "EUR" }, 422, "currency_mismatch", "/currency"],
    [
      "accounts of different currencies",
      { to_account: euro.account.account_number },
      422,
      "currency_mismatch",
      "/to_account",
    ],
    ["same from and to", { to_account: alice.account.account_number }, 422, "same_account", "/to_account"],
    ["unknown to_account", { to_account: "ACC_DOESNOTEXIST" }, 404, "account_not_found", "/to_account"],
    [
      "someone else's from_account",
      { from_account: bob.account.account_number, to_account: alice.account.account_number },
      404,
      "account_not_found",
      "/from_account",
    ],
    [
      "a system account as payee",
      { to_account: "SYS_EXTERNAL_USD" },
      404,
      "account_not_found",
      "/to_account",
    ],
    ["an unknown field", { surprise: 1 }, 422, "validation_failed", null],
    ["a bad capture_method", { capture_method: "later" }, 422, "validation_failed", "/capture_method"],
    ["a missing amount", { amount: undefined }, 422, "validation_failed", "/amount"],
    ["a number where a string belongs", { description: 5 }, 422, "validation_failed", "/description"],
  ];

  it.each(cases)("%s", async (_name, patch, status, code, pointer) => {
    const before = await paymentCount();
    const res = await pay(t, alice, { ...base, ...patch });
    expect(res.status).toBe(status);
    expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status, code, type: expect.any(String), title: expect.any(String) });
    expect(res.body.request_id).toMatch(/^req_/);
    if (pointer) expect(res.body.errors.map((e: any) => e.pointer)).toContain(pointer);
    expect(await paymentCount()).toBe(before);
  });

  it("malformed JSON is a 400", async () => {
    const res = await t.request("POST", "/api/v1/payments", {
      token: alice.token,
      headers: { "Idempotency-Key": key(), "content-type": "application/json" },
      rawBody: '{"amount": ',
    });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("malformed_request");
  });

  it("an oversized body is a 413", async () => {
    const res = await t.request("POST", "/api/v1/payments", {
      token: alice.token,
      headers: { "Idempotency-Key": key(), "content-type": "application/json" },
      rawBody: JSON.stringify({ ...base, description: "x".repeat(100_000) }),
    });
    expect(res.status).toBe(413);
    expect(res.body.code).toBe("payload_too_large");
  });

  it("transfers to an unknown email or in a currency the recipient lacks are 404", async () => {
    for (const body of [
      { to: "nobody@example.test", amount: "1.00", currency: "USD" },
      { to: bob.email, amount: "1.00", currency: "GBP" },
    ]) {
      const res = await t.request("POST", "/api/v1/transfers", {
        token: alice.token,
        headers: { "Idempotency-Key": key() },
        body,
      });
      expect(res.status).toBe(404);
      expect(res.body.errors[0].pointer).toMatch(/^\/(to|from_account)$/);
    }
  });
});

describe("security", async () => {
  const alice = await makeUser(t.services, { balance: 10_000n });
  const bob = await makeUser(t.services);
  const body = {
    from_account: alice.account.account_number,
    to_account: bob.account.account_number,
    amount: "1.00",
    currency: "USD",
  };

  it("rejects requests without a token", async () => {
    const res = await t.request("POST", "/api/v1/payments", { body, headers: { "Idempotency-Key": key() } });
    expect(res.status).toBe(401);
    expect((await t.request("GET", "/api/v1/payments")).status).toBe(401);
  });

  it("only admins deposit", async () => {
    for (const role of ["customer", "merchant", "ops"] as const) {
      const user = await makeUser(t.services, { role });
      const res = await t.request("POST", "/api/v1/deposits", {
        token: user.token,
        headers: { "Idempotency-Key": key() },
        body: { account_number: user.account.account_number, amount: "100.00", currency: "USD" },
      });
      expect(res.status).toBe(403);
    }
  });

  it("hides other people's payments as 404", async () => {
    const created = await pay(t, alice, body);
    const stranger = await makeUser(t.services);
    const res = await t.request("GET", `/api/v1/payments/${created.body.id}`, { token: stranger.token });
    expect(res.status).toBe(404);
    expect((await t.request("GET", `/api/v1/payments/${created.body.id}`, { token: bob.token })).status).toBe(
      200,
    );
    const ops = await makeUser(t.services, { role: "ops" });
    expect((await t.request("GET", `/api/v1/payments/${created.body.id}`, { token: ops.token })).status).toBe(
      200,
    );
  });

  it("lets only ops and admin verify the ledger", async () => {
    expect((await t.request("GET", "/api/v1/ops/ledger/verify", { token: alice.token })).status).toBe(403);
    expect((await t.request("GET", "/api/v1/ops/ledger/verify")).status).toBe(401);
  });

  it("guards the queue dashboard: 401 with a Basic challenge, 403 for customers, 200 for ops", async () => {
    const anon = await t.app.request("/ops/queues");
    expect(anon.status).toBe(401);
    expect(anon.headers.get("www-authenticate")).toMatch(/^Basic/);
    const customer = await t.app.request("/ops/queues", {
      headers: { authorization: `Bearer ${alice.token}` },
    });
    expect(customer.status).toBe(403);
    const ops = await makeUser(t.services, { role: "ops" });
    const slash = await t.app.request("/ops/queues/", { headers: { authorization: `Bearer ${ops.token}` } });
    expect(slash.status).toBe(302);
    expect(slash.headers.get("location")).toBe("/ops/queues");
    const page = await t.app.request("/ops/queues", { headers: { authorization: `Bearer ${ops.token}` } });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<html/i);
    const api = await t.app.request("/ops/queues/api/queues", {
      headers: { authorization: `Bearer ${ops.token}` },
    });
    expect(api.status).toBe(200);
    expect(JSON.stringify(await api.json())).toContain("postings-0");
  });

  it("lets a browser sign in to the queue dashboard with an ops user's email and password", async () => {
    const ops = await makeUser(t.services, { role: "ops" });
    const hash = await hashPassword("ops-password-1", t.services.config.BCRYPT_COST);
    await t.services.sql`update users set password_hash = ${hash} where id = ${ops.id}`;
    const from = { incoming: { socket: { remoteAddress: uniqueAddress() } } };
    const basic = (email: string, password: string) =>
      `Basic ${Buffer.from(`${email}:${password}`).toString("base64")}`;
    const ok = await t.app.request(
      "/ops/queues",
      {
        headers: { authorization: basic(ops.email, "ops-password-1") },
      },
      from,
    );
    expect(ok.status).toBe(200);
    // The sign-in leaves a session cookie, so the page's own requests do not run bcrypt each time.
    const cookie = ok.headers.get("set-cookie") ?? "";
    expect(cookie).toMatch(/^ops_session=[^;]+;.*HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    const session = cookie.split(";")[0]!;
    expect((await t.app.request("/ops/queues/api/queues", { headers: { cookie: session } })).status).toBe(
      200,
    );
    expect(
      (await t.app.request("/ops/queues/api/queues", { headers: { cookie: "ops_session=forged" } })).status,
    ).toBe(401);

    const wrong = await t.app.request(
      "/ops/queues",
      {
        headers: { authorization: basic(ops.email, "wrong-password") },
      },
      from,
    );
    expect(wrong.status).toBe(401);
    // A customer's right password is answered exactly like a wrong one: it confirms nothing.
    const customer = await makeUser(t.services);
    await t.services.sql`update users set password_hash = ${hash} where id = ${customer.id}`;
    const asCustomer = await t.app.request(
      "/ops/queues",
      {
        headers: { authorization: basic(customer.email, "ops-password-1") },
      },
      from,
    );
    expect(asCustomer.status).toBe(401);
    expect(((await asCustomer.json()) as any).code).toBe(((await wrong.json()) as any).code);
  });

  it("throttles password guessing at the dashboard like /auth/login", async () => {
    const ops = await makeUser(t.services, { role: "ops" });
    // From a client address of its own, so no other test's failures count against it.
    const address = uniqueAddress();
    const guess = () =>
      t.app.request(
        "/ops/queues",
        {
          headers: {
            authorization: `Basic ${Buffer.from(`${ops.email}:guess-${Math.random()}`).toString("base64")}`,
          },
        },
        { incoming: { socket: { remoteAddress: address } } },
      );
    const statuses: number[] = [];
    for (let i = 0; i < t.services.config.LOGIN_MAX_ATTEMPTS; i++) statuses.push((await guess()).status);
    expect(statuses).toEqual(Array(statuses.length).fill(401));
    const last = await guess();
    expect(last.status).toBe(429);
    expect(last.headers.get("retry-after")).toBeTruthy();
  });

  it("lets ops read and retry but not pause queues, and refuses cross-site writes", async () => {
    const ops = await makeUser(t.services, { role: "ops" });
    const auth = { authorization: `Bearer ${ops.token}` };
    const pause = await t.app.request("/ops/queues/api/queues/pause", { method: "PUT", headers: auth });
    expect(pause.status).toBe(403);
    const retry = await t.app.request("/ops/queues/api/queues/%7Bwebhooks%7D/retry/failed", {
      method: "PUT",
      headers: auth,
    });
    expect(retry.status).not.toBe(403);
    const admin = await makeUser(t.services, { role: "admin" });
    const crossSite = await t.app.request("/ops/queues/api/queues/pause", {
      method: "PUT",
      headers: {
        authorization: `Bearer ${admin.token}`,
        origin: "https://evil.example",
        "sec-fetch-site": "cross-site",
      },
    });
    expect(crossSite.status).toBe(403);
    expect(((await crossSite.json()) as any).code).toBe("cross_site_request");
  });

  it("serves Prometheus metrics", async () => {
    const res = await t.app.request("/metrics");
    const text = await res.text();
    expect(res.status).toBe(200);
    for (const name of [
      "payments_accepted_total",
      "payments_completed_total",
      "payment_posting_seconds",
      "queue_jobs",
      "webhook_deliveries_total",
      "http_request_duration_seconds",
    ]) {
      expect(text).toContain(name);
    }
  });
});

describe("Redis down", () => {
  it("answers 503 and accepts nothing", async () => {
    const alice = await makeUser(t.services, { balance: 1_000n });
    const bob = await makeUser(t.services);
    const dead = createRedis("redis://127.0.0.1:6399", "producer");
    dead.on("error", () => {});
    try {
      const app = createApp({ ...t.services, redis: dead });
      const before = await paymentCount();
      const res = await app.request("/api/v1/payments", {
        method: "POST",
        headers: {
          authorization: `Bearer ${alice.token}`,
          "content-type": "application/json",
          "Idempotency-Key": key(),
        },
        body: JSON.stringify({
          from_account: alice.account.account_number,
          to_account: bob.account.account_number,
          amount: "1.00",
          currency: "USD",
        }),
      });
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBeTruthy();
      expect(((await res.json()) as any).code).toBe("queue_unavailable");
      expect(await paymentCount()).toBe(before);
      const ready = await app.request("/ready");
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as any).checks).toEqual({ postgres: true, redis: false });
    } finally {
      dead.disconnect();
    }
  });
});
