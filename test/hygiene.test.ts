import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { makeUser, useApp } from "./support/app.ts";
import { key, pay } from "./support/payments.ts";

const t = await useApp();

describe("bad input never reaches the database as a server error", async () => {
  const alice = await makeUser(t.services, { balance: 10_000n });
  const bob = await makeUser(t.services);
  const base = {
    from_account: alice.account.account_number,
    to_account: bob.account.account_number,
    amount: "1.00",
    currency: "USD",
  };
  // Alice's own payments: other test files create payments in the same database at the same time.
  const count = async () =>
    (
      await t.services.sql<{ n: number }[]>`
        select count(*)::int as n from payments where from_account = ${alice.account.account_number}`
    )[0]!.n;

  it("refuses NUL characters in paths, queries and JSON strings with 400 and a pointer", async () => {
    const before = await count();
    const path = await t.request("GET", "/api/v1/payments/%00", { token: alice.token });
    expect(path.status).toBe(400);
    expect(path.body.code).toBe("invalid_characters");
    expect((await t.request("GET", "/api/v1/payments?status=%00", { token: alice.token })).status).toBe(400);
    const body = await pay(t, alice, { ...base, description: "a\u0000b" });
    expect(body.status).toBe(400);
    expect(body.body.errors[0].pointer).toBe("/description");
    const metaKey = await pay(t, alice, { ...base, metadata: { "k\u0000": "v" } });
    expect(metaKey.status).toBe(400);
    expect(metaKey.body.errors[0].pointer).toBe("/metadata/k\u0000");
    // A literal backslash followed by "u0000" is just text.
    expect((await pay(t, alice, { ...base, description: "C:\\u0000dir" })).status).toBe(202);
    expect(await count()).toBe(before + 1);
  });

  it("finds a NUL however deep the body nests (a recursive walk overflowed the stack: 500)", async () => {
    const before = await count();
    // 30,000 levels is about as deep as the 64 KiB body limit allows.
    for (const depth of [1_000, 5_000, 30_000]) {
      const arrays = `${"[".repeat(depth)}"\\u0000"${"]".repeat(depth)}`;
      const levels = Math.floor(depth / 6);
      const objects = `${'{"a":'.repeat(levels)}"x\\u0000"${"}".repeat(levels)}`;
      for (const [rawBody, pointer] of [
        [arrays, "/0".repeat(depth)],
        [objects, "/a".repeat(levels)],
      ] as const) {
        for (const path of ["/api/v1/auth/login", "/api/v1/payments"]) {
          const res = await t.request("POST", path, {
            token: alice.token,
            headers: { "content-type": "application/json", "Idempotency-Key": key() },
            rawBody,
          });
          expect(res.status, `${path} at depth ${depth}`).toBe(400);
          expect(res.body.code).toBe("invalid_characters");
          expect(res.body.errors[0].pointer).toBe(pointer);
        }
      }
    }
    // Document order: the first NUL met reading the text is the one reported, key or value.
    const first = await t.request("POST", "/api/v1/auth/login", {
      headers: { "content-type": "application/json" },
      rawBody: '{"a":{"b":["ok","x\\u0000"]},"k\\u0000":"v","c":"\\u0000"}',
    });
    expect(first.body.errors[0].pointer).toBe("/a/b/1");
    expect(await count()).toBe(before);
  });

  it("answers out-of-range timestamps and malformed escapes without a 500", async () => {
    const at = await t.request(
      "GET",
      `/api/v1/accounts/${alice.account.account_number}/balance?at=0000-01-01T00:00:00Z`,
      {
        token: alice.token,
      },
    );
    expect(at.status).toBeGreaterThanOrEqual(400);
    expect(at.status).toBeLessThan(500);
    const badEscape = await t.request("GET", "/api/v1/payments/%E0%A4%A", { token: alice.token });
    expect(badEscape.status).toBe(400);
  });

  it("property: any string in any field or path parameter is a 2xx or 4xx, never a 5xx", async () => {
    const text = fc.string({ unit: "binary", maxLength: 40 });
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          description: text,
          to_account: text,
          metaKey: text,
          metaValue: text,
          currency: text,
          amount: text,
        }),
        text,
        async (s, param) => {
          const res = await t.request("POST", "/api/v1/payments", {
            token: alice.token,
            headers: { "Idempotency-Key": key() },
            body: {
              ...base,
              description: s.description,
              to_account: s.to_account,
              currency: s.currency,
              amount: s.amount,
              metadata: { [s.metaKey || "k"]: s.metaValue },
            },
          });
          expect(res.status, JSON.stringify(res.body)).toBeLessThan(500);
          for (const path of [
            `/api/v1/payments/${encodeURIComponent(param)}`,
            `/api/v1/refunds/${encodeURIComponent(param)}`,
            `/api/v1/accounts/${encodeURIComponent(param)}/history`,
            `/api/v1/events/${encodeURIComponent(param)}`,
            `/api/v1/payments?cursor=${encodeURIComponent(param)}`,
          ]) {
            const got = await t.request("GET", path, { token: alice.token });
            expect(got.status, `${path} ${JSON.stringify(got.body)}`).toBeLessThan(500);
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
