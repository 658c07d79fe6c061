import { Writable } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createApp } from "../api/app.ts";
import { createSql } from "../shared/db/index.ts";
import { makeUser, useApp } from "./support/app.ts";
import { key } from "./support/payments.ts";

const t = await useApp();

/** A logger whose lines land in `lines`, so a test can read what was logged and at which level. */
function capturingLogger() {
  const lines: { level: number; msg: string }[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { log: pino({ level: "info" }, sink), lines };
}
const WARN = 40;
const ERROR = 50;

describe("Postgres unreachable", () => {
  it("answers 503 database_unavailable with Retry-After on every kind of route, logged at warn", async () => {
    const alice = await makeUser(t.services, { balance: 1_000n });
    const bob = await makeUser(t.services);
    // Nothing listens on port 1: every connection attempt is refused, as while Postgres restarts.
    const dead = createSql("postgres://postgres@127.0.0.1:1/payments", { max: 2 });
    const { log, lines } = capturingLogger();
    try {
      const app = createApp({ ...t.services, sql: dead, log });
      const requests: [string, string, unknown?][] = [
        [
          "POST",
          "/api/v1/payments",
          {
            from_account: alice.account.account_number,
            to_account: bob.account.account_number,
            amount: "1.00",
            currency: "USD",
          },
        ],
        ["GET", "/api/v1/payments"],
        ["GET", `/api/v1/accounts/${alice.account.account_number}/balance`],
        ["POST", "/api/v1/auth/login", { email: alice.email, password: "whatever-password" }],
      ];
      for (const [method, path, body] of requests) {
        const res = await app.request(path, {
          method,
          headers: {
            authorization: `Bearer ${alice.token}`,
            "content-type": "application/json",
            "Idempotency-Key": key(),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        expect(res.status, `${method} ${path}`).toBe(503);
        expect(res.headers.get("content-type")).toBe("application/problem+json");
        expect(res.headers.get("retry-after")).toBe("1");
        const problem = (await res.json()) as { code: string; detail: string };
        expect(problem.code).toBe("database_unavailable");
        expect(problem.detail).not.toMatch(/ECONNREFUSED|127\.0\.0\.1/); // no internals leak
      }
      expect(lines.filter((l) => l.level === WARN && l.msg === "database unavailable").length).toBe(4);
      expect(lines.filter((l) => l.level >= ERROR)).toEqual([]);
    } finally {
      await dead.end({ timeout: 1 });
    }
  });
});

describe("Postgres connections killed under load", () => {
  it("every request is answered 2xx or 503, never 500, and the pool recovers", async () => {
    const alice = await makeUser(t.services, { balance: 1_000_000n });
    const bob = await makeUser(t.services);
    const name = `payments-kill-${process.pid}-${Date.now()}`;
    const sql = createSql(t.services.config.DATABASE_URL, { max: 4, applicationName: name });
    const app = createApp({ ...t.services, sql });
    const send = async (i: number): Promise<Response> =>
      i % 2 === 0
        ? app.request("/api/v1/payments", { headers: { authorization: `Bearer ${alice.token}` } })
        : app.request("/api/v1/payments", {
            method: "POST",
            headers: {
              authorization: `Bearer ${alice.token}`,
              "content-type": "application/json",
              "Idempotency-Key": key(),
            },
            body: JSON.stringify({
              from_account: alice.account.account_number,
              to_account: bob.account.account_number,
              amount: "0.01",
              currency: "USD",
            }),
          });
    try {
      const statuses: number[] = [];
      let killed = 0;
      for (let round = 0; round < 10; round++) {
        const inFlight = Array.from({ length: 20 }, (_, i) => send(i).then((r) => r.status));
        // Terminate the pool's backends while those requests run, as a Postgres restart would.
        await new Promise((resolve) => setTimeout(resolve, round % 3));
        const [row] = await t.services.sql<{ n: number }[]>`
          select count(pg_terminate_backend(pid))::int as n
            from pg_stat_activity where application_name = ${name}`;
        killed += row!.n;
        statuses.push(...(await Promise.all(inFlight)));
      }
      expect(killed).toBeGreaterThan(0);
      expect(statuses.filter((s) => ![200, 202, 503].includes(s))).toEqual([]);
      // Once Postgres is back, the same pool serves requests again.
      expect((await send(0)).status).toBe(200);
      expect((await send(1)).status).toBe(202);
    } finally {
      await sql.end({ timeout: 1 });
    }
  });
});
