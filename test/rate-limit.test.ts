import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { Redis } from "ioredis";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createApp } from "../api/app.ts";
import type { App } from "../api/env.ts";
import { createLogger } from "../shared/logger.ts";
import { RateLimiter } from "../shared/rate-limit.ts";
import { makeUser, type TestUser, useApp } from "./support/app.ts";
import { expectProblem, uniqueEmail } from "./support/auth.ts";
import { key } from "./support/payments.ts";

/**
 * Per-principal token buckets in real Redis. Every test uses principals and client addresses of its
 * own (fresh users, random addresses), so buckets are never shared between tests or test files.
 * Bursts are sent concurrently: at 5 a second a token comes back every 200 ms, and requests sent
 * one after the other could earn one back in between.
 */

const RATE = 5;
const t = await useApp({
  RATE_LIMIT_WRITES_PER_SECOND: String(RATE),
  RATE_LIMIT_READS_PER_SECOND: String(RATE),
  TRUST_PROXY_HOPS: "1",
});
/** Another app on services of its own (its own Redis connection), as another API process would be. */
const other = await useApp({
  RATE_LIMIT_WRITES_PER_SECOND: String(RATE),
  RATE_LIMIT_READS_PER_SECOND: String(RATE),
});
const writesOff = await useApp({
  RATE_LIMIT_WRITES_PER_SECOND: "0",
  RATE_LIMIT_READS_PER_SECOND: String(RATE),
  TRUST_PROXY_HOPS: "1",
});
const allOff = await useApp({
  RATE_LIMIT_WRITES_PER_SECOND: "0",
  RATE_LIMIT_READS_PER_SECOND: "0",
  TRUST_PROXY_HOPS: "1",
});

interface Res {
  status: number;
  body: any;
  headers: Headers;
}

/** A request through `app`, from a proxy that saw `address` (TRUST_PROXY_HOPS=1). */
async function send(
  app: App,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string>; address?: string } = {},
): Promise<Res> {
  const headers: Record<string, string> = { "x-forwarded-for": opts.address ?? address(), ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers["content-type"] = "application/json";
  const res = await app.request(
    path,
    { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) },
    { incoming: { socket: { remoteAddress: "192.0.2.1" } } },
  );
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // not JSON (the docs page): keep the text
  }
  return { status: res.status, body, headers: res.headers };
}

/** A random documentation-range IPv6 /64 per call: nobody else's bucket. */
function address(): string {
  return `2001:db8:${randomBytes(6).toString("hex").match(/..../g)!.join(":")}::1`;
}

function burst(n: number, request: (i: number) => Promise<Res>): Promise<Res[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => request(i)));
}

const statuses = (rs: Res[]) => rs.map((r) => r.status).sort();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function expectRateLimited(res: Res, kind: "writes" | "reads"): void {
  expectProblem(res, 429, "rate_limited");
  expect(res.headers.get("retry-after")).toBe("1");
  expect(res.headers.get("ratelimit-policy")).toBe(`"${kind}";q=${RATE};w=1`);
  expect(res.headers.get("ratelimit")).toBe(`"${kind}";r=0;t=1`);
}

function paymentBody(from: TestUser, to: TestUser, description?: string) {
  return {
    from_account: from.account.account_number,
    to_account: to.account.account_number,
    amount: "1.00",
    currency: "USD",
    description,
  };
}

describe("per-principal rate limits", () => {
  it("a request under the limit passes and carries RateLimit and RateLimit-Policy", async () => {
    const alice = await makeUser(t.services, { balance: 1_000n });
    const bob = await makeUser(t.services);
    const read = await send(t.app, "GET", "/api/v1/accounts", { token: alice.token });
    expect(read.status).toBe(200);
    expect(read.headers.get("ratelimit-policy")).toBe(`"reads";q=${RATE};w=1`);
    expect(read.headers.get("ratelimit")).toBe(`"reads";r=${RATE - 1};t=1`);

    // The idempotent 202 and a problem response are built apart from c.json: they carry them too.
    const write = await send(t.app, "POST", "/api/v1/payments", {
      token: alice.token,
      body: paymentBody(alice, bob),
      headers: { "Idempotency-Key": key() },
    });
    expect(write.status).toBe(202);
    expect(write.headers.get("ratelimit-policy")).toBe(`"writes";q=${RATE};w=1`);
    expect(write.headers.get("ratelimit")).toBe(`"writes";r=${RATE - 1};t=1`);
    const invalid = await send(t.app, "POST", "/api/v1/payments", { token: alice.token, body: {} });
    expect(invalid.status).toBe(422);
    // r=3, or 4 when a token came back since (one every 200 ms).
    expect(invalid.headers.get("ratelimit")).toMatch(/^"writes";r=[34];t=1$/);
  });

  it("of rate + 1 concurrent payments exactly rate are accepted; the other is a 429 that leaves nothing behind", async () => {
    const alice = await makeUser(t.services, { balance: 1_000n });
    const bob = await makeUser(t.services);
    const marker = `burst-${randomBytes(6).toString("hex")}`;
    const keys = Array.from({ length: RATE + 1 }, () => key());
    const results = await burst(RATE + 1, (i) =>
      send(t.app, "POST", "/api/v1/payments", {
        token: alice.token,
        body: paymentBody(alice, bob, `${marker}-${i}`),
        headers: { "Idempotency-Key": keys[i]! },
      }),
    );
    expect(statuses(results)).toEqual([...Array(RATE).fill(202), 429]);
    const refusedAt = results.findIndex((r) => r.status === 429);
    expectRateLimited(results[refusedAt]!, "writes");
    for (const r of results.filter((r) => r.status === 202))
      expect(r.headers.get("ratelimit")).toMatch(/^"writes";r=\d;t=1$/);

    // Nothing of the refused request exists: no payment, no idempotency record.
    const refusedKey = keys[refusedAt]!;
    const payments = async (description: string) =>
      (await t.services.sql`select id from payments where description = ${description}`).length;
    expect(await payments(`${marker}-${refusedAt}`)).toBe(0);
    const records = async () =>
      (await t.services.sql`select 1 from idempotency_keys where key = ${refusedKey}`).length;
    expect(await records()).toBe(0);

    // After Retry-After, the same request with the same key is handled as new.
    await sleep(1000);
    const retried = await send(t.app, "POST", "/api/v1/payments", {
      token: alice.token,
      body: paymentBody(alice, bob, `${marker}-${refusedAt}`),
      headers: { "Idempotency-Key": refusedKey },
    });
    expect(retried.status).toBe(202);
    expect(retried.headers.get("idempotent-replayed")).toBeNull();
    expect(await payments(`${marker}-${refusedAt}`)).toBe(1);
    expect(await records()).toBe(1);
  });

  it("keeps reads and writes in separate buckets", async () => {
    const alice = await makeUser(t.services);
    // Invalid bodies still take a token: the limit runs before validation.
    const writes = await burst(RATE + 1, () =>
      send(t.app, "POST", "/api/v1/payments", { token: alice.token, body: {} }),
    );
    expect(statuses(writes)).toEqual([...Array(RATE).fill(422), 429]);
    const read = await send(t.app, "GET", "/api/v1/accounts", { token: alice.token });
    expect(read.status).toBe(200);
    expect(read.headers.get("ratelimit")).toBe(`"reads";r=${RATE - 1};t=1`);
  });

  it("one principal's burst never limits another", async () => {
    const [alice, bob] = [await makeUser(t.services), await makeUser(t.services)];
    // The same client address for both: buckets are per principal, not per address.
    const from = address();
    const reads = await burst(RATE + 3, () =>
      send(t.app, "GET", "/api/v1/accounts", { token: alice.token, address: from }),
    );
    expect(reads.filter((r) => r.status === 429)).toHaveLength(3);
    const other = await send(t.app, "GET", "/api/v1/accounts", { token: bob.token, address: from });
    expect(other.status).toBe(200);
    expect(other.headers.get("ratelimit")).toBe(`"reads";r=${RATE - 1};t=1`);
  });

  it("an API key and its owner's JWT are separate principals", async () => {
    const merchant = await makeUser(t.services, { role: "merchant" });
    const created = await send(t.app, "POST", "/api/v1/api-keys", { token: merchant.token });
    expect(created.status).toBe(201);
    const apiKey = created.body.key as string;
    // A key is looked up in Postgres before its bucket is asked, so a burst reaches the limiter
    // spread over those queries' time: sent well over the limit, some are refused whatever the spread.
    const byKey = await burst(3 * RATE, () => send(t.app, "GET", "/api/v1/accounts", { token: apiKey }));
    expect(byKey.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(RATE);
    expectRateLimited(byKey.find((r) => r.status === 429)!, "reads");
    // The owner's own sessions have a full bucket of their own.
    const byJwt = await send(t.app, "GET", "/api/v1/accounts", { token: merchant.token });
    expect(byJwt.status).toBe(200);
    expect(byJwt.headers.get("ratelimit")).toBe(`"reads";r=${RATE - 1};t=1`);
  });

  it("refills: a token is back 1/rate seconds after the bucket ran dry, the whole bucket after a second", async () => {
    const alice = await makeUser(t.services);
    const read = () => send(t.app, "GET", "/api/v1/accounts", { token: alice.token });
    // Only lower bounds on what came back: a loaded machine may deliver the answers late, never early.
    const drained = await burst(2 * RATE, read);
    expectRateLimited(drained.find((r) => r.status === 429)!, "reads");
    await sleep(1000 / RATE + 50);
    expect((await read()).status).toBe(200);
    await sleep(1000);
    const full = await burst(RATE, read);
    expect(statuses(full)).toEqual(Array(RATE).fill(200));
  });

  it("several API processes share one bucket per principal", async () => {
    const alice = await makeUser(t.services);
    const results = await burst(2 * RATE, (i) =>
      send(i % 2 === 0 ? t.app : other.app, "GET", "/api/v1/accounts", { token: alice.token }),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(RATE);
  });
});

describe("unauthenticated requests: per client address", () => {
  it("login is limited per address; another address behind the same proxy is not", async () => {
    const from = address();
    const attempt = (address: string) =>
      send(t.app, "POST", "/api/v1/auth/login", {
        address,
        body: { email: uniqueEmail("nobody"), password: "wrong-password" },
      });
    const results = await burst(RATE + 1, () => attempt(from));
    expect(statuses(results)).toEqual([...Array(RATE).fill(401), 429]);
    expectRateLimited(results.find((r) => r.status === 429)!, "writes");
    expect(results.find((r) => r.status === 401)!.headers.get("ratelimit")).toMatch(/^"writes";r=\d;t=1$/);
    expect((await attempt(address())).status).toBe(401);
  });

  it("register is limited per address, and the refused registration creates no user", async () => {
    const from = address();
    const emails = Array.from({ length: RATE + 1 }, () => uniqueEmail("burst"));
    const results = await burst(RATE + 1, (i) =>
      send(t.app, "POST", "/api/v1/auth/register", {
        address: from,
        body: { email: emails[i], password: "a long enough password" },
      }),
    );
    expect(statuses(results)).toEqual([...Array(RATE).fill(201), 429]);
    const refused = emails[results.findIndex((r) => r.status === 429)]!;
    expect(await t.services.sql`select id from users where email = ${refused}`).toHaveLength(0);
  });

  it("a request failing authentication counts against its address, not the principal it claims", async () => {
    const alice = await makeUser(t.services);
    const from = address();
    // Forged access tokens: refused without a database query, so the burst stays tight.
    const guesses = await burst(RATE + 1, () =>
      send(t.app, "GET", "/api/v1/accounts", {
        token: `${alice.token.slice(0, -4)}${randomBytes(3).toString("base64url")}`,
        address: from,
      }),
    );
    expect(statuses(guesses)).toEqual([...Array(RATE).fill(401), 429]);
    expectRateLimited(guesses.find((r) => r.status === 429)!, "reads");
    // Guessed API keys count the same way (each is looked up first, so the burst is sent well over).
    const elsewhere = address();
    const keyGuesses = await burst(3 * RATE, () =>
      send(t.app, "GET", "/api/v1/accounts", {
        token: `sk_guess_${randomBytes(8).toString("hex")}`,
        address: elsewhere,
      }),
    );
    expectRateLimited(keyGuesses.find((r) => r.status === 429)!, "reads");
    // A valid caller from the same address uses its own bucket.
    const valid = await send(t.app, "GET", "/api/v1/accounts", { token: alice.token, address: from });
    expect(valid.status).toBe(200);
  });

  it("unknown /api/v1 paths count per address; health, readiness, metrics and docs are never limited", async () => {
    const from = address();
    const unknown = await burst(RATE + 1, () =>
      send(t.app, "GET", "/api/v1/no-such-thing", { address: from }),
    );
    expect(statuses(unknown)).toEqual([...Array(RATE).fill(404), 429]);
    for (const path of ["/health", "/ready", "/metrics", "/openapi.json", "/docs"]) {
      const results = await burst(RATE + 1, () => send(t.app, "GET", path, { address: from }));
      for (const r of results) {
        expect(r.status, path).not.toBe(429);
        expect(r.headers.get("ratelimit"), path).toBeNull();
      }
    }
  });
});

describe("turning limits off, and Redis down", () => {
  it("0 turns a limit off: no headers, no limit, no Redis key", async () => {
    const alice = await makeUser(writesOff.services);
    const writes = await burst(3 * RATE, () =>
      send(writesOff.app, "POST", "/api/v1/payments", { token: alice.token, body: {} }),
    );
    expect(writes.every((r) => r.status === 422 && r.headers.get("ratelimit") === null)).toBe(true);
    const reads = await burst(RATE + 1, () =>
      send(writesOff.app, "GET", "/api/v1/accounts", { token: alice.token }),
    );
    expect(statuses(reads)).toEqual([...Array(RATE).fill(200), 429]);
    const prefix = writesOff.services.config.QUEUE_PREFIX;
    const bucket = (kind: string) => `{${prefix}:ratelimit:user:${alice.id}}:${kind}`;
    expect(await writesOff.services.redis.exists(bucket("writes"))).toBe(0);
    expect(await writesOff.services.redis.exists(bucket("reads"))).toBe(1);

    // Both off (the default of the other test files): nothing limited, nothing stored.
    const bob = await makeUser(allOff.services);
    const from = address();
    const all = await burst(3 * RATE, (i) =>
      i % 2 === 0
        ? send(allOff.app, "GET", "/api/v1/accounts", { token: bob.token })
        : send(allOff.app, "POST", "/api/v1/auth/login", {
            address: from,
            body: { email: uniqueEmail("nobody"), password: "wrong-password" },
          }),
    );
    expect(all.some((r) => r.status === 429 || r.headers.get("ratelimit") !== null)).toBe(false);
    expect(await allOff.services.redis.exists(`{${prefix}:ratelimit:user:${bob.id}}:reads`)).toBe(0);
  });

  it("Redis unreachable: requests go through unlimited, with one warning", async () => {
    const alice = await makeUser(t.services);
    // Nothing listens on port 1: every command fails, as while Redis restarts.
    const dead = new Redis("redis://127.0.0.1:1", {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => 1000,
    });
    dead.on("error", () => {});
    const lines: { level: number; msg: string }[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    });
    try {
      const app = createApp({ ...t.services, redis: dead, log: pino({ level: "warn" }, sink) });
      const reads = await burst(RATE + 3, () => send(app, "GET", "/api/v1/accounts", { token: alice.token }));
      expect(reads.every((r) => r.status === 200 && r.headers.get("ratelimit") === null)).toBe(true);
      const from = address();
      const logins = await burst(RATE + 3, () =>
        send(app, "POST", "/api/v1/auth/login", {
          address: from,
          body: { email: uniqueEmail("nobody"), password: "wrong-password" },
        }),
      );
      expect(logins.every((r) => r.status === 401)).toBe(true);
      const warnings = lines.filter((l) => l.msg.includes("rate limiter"));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.level).toBe(40);
    } finally {
      dead.disconnect();
    }
  });
});

describe("the bucket (shared/rate-limit.ts)", () => {
  it("allows exactly the rate at a rate whose interval is not a whole number of microseconds, and expires its key when full", async () => {
    const config = {
      QUEUE_PREFIX: t.services.config.QUEUE_PREFIX,
      RATE_LIMIT_WRITES_PER_SECOND: 3,
      RATE_LIMIT_READS_PER_SECOND: 7,
    };
    const limiter = new RateLimiter(t.services.redis, config, createLogger("silent"));
    const subject = `test:${randomBytes(8).toString("hex")}`;
    const decisions = [];
    for (let i = 0; i < 4; i++) decisions.push(await limiter.consume(subject, "writes"));
    expect(decisions.map((d) => d?.allowed)).toEqual([true, true, true, false]);
    expect(decisions.map((d) => d?.remaining)).toEqual([2, 1, 0, 0]);
    const refused = decisions[3]!;
    expect(refused.nextTokenMs).toBeGreaterThan(0);
    expect(refused.nextTokenMs).toBeLessThanOrEqual(1000 / 3 + 1);
    const ttl = await t.services.redis.pttl(`{${config.QUEUE_PREFIX}:ratelimit:${subject}}:writes`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(1000);
    // The other kind is a bucket of its own, with its own rate.
    expect(await limiter.consume(subject, "reads")).toMatchObject({ allowed: true, remaining: 6, rate: 7 });
  });
});
