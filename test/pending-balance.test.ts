import { describe, expect, it } from "vitest";
import { partitionOf } from "../shared/jobs.ts";
import { systemAccountNumber } from "../shared/ledger/index.ts";
import { drainPartition } from "../shared/payments/posting.ts";
import { makeUser, type TestUser, useApp } from "./support/app.ts";
import { expectProblem } from "./support/auth.ts";
import { expectLedgerHealthy } from "./support/db.ts";
import { isolatedEnv } from "./support/isolated.ts";
import { key, pay } from "./support/payments.ts";

// Its own database and no workers: work stays accepted-not-posted until a test drains it.
const t = await useApp(await isolatedEnv("pending_balance"));
const HOLDS = systemAccountNumber("holds", "USD");

async function balance(account: string, user: TestUser) {
  const res = await t.request("GET", `/api/v1/accounts/${account}/balance`, { token: user.token });
  expect(res.status).toBe(200);
  return res.body;
}

/** Pending and available of an account in minor units, as the API shows them. */
async function figures(account: string, user: TestUser) {
  const b = await balance(account, user);
  const cents = (s: string) => BigInt(s.replace(".", ""));
  return {
    available: cents(b.available_balance),
    held: cents(b.held_balance),
    out: cents(b.pending_outgoing),
    in: cents(b.pending_incoming),
  };
}

function drainFor(account: string) {
  return drainPartition(t.services, partitionOf(account, t.services.config.POSTING_PARTITIONS));
}

function cents(n: bigint): string {
  return `${n / 100n}.${String(n % 100n).padStart(2, "0")}`;
}

describe("pending amounts in GET /accounts/{n}/balance", () => {
  it("are exact under 100 concurrent payments, and at every instant while they post", async () => {
    const payer = await makeUser(t.services, { balance: 1_000_000n });
    const payee = await makeUser(t.services, { role: "merchant" });
    const amounts = Array.from({ length: 100 }, (_, i) => BigInt(100 + i * 37));
    const total = amounts.reduce((a, b) => a + b, 0n);
    const res = await Promise.all(
      amounts.map((a) =>
        pay(t, payer, {
          from_account: payer.account.account_number,
          to_account: payee.account.account_number,
          amount: cents(a),
          currency: "USD",
        }),
      ),
    );
    expect(res.map((r) => r.status)).toEqual(amounts.map(() => 202));

    expect(await balance(payer.account.account_number, payer)).toMatchObject({
      available_balance: "10000.00",
      pending_outgoing: cents(total),
      pending_incoming: "0.00",
    });
    expect(await balance(payee.account.account_number, payee)).toMatchObject({
      available_balance: "0.00",
      pending_outgoing: "0.00",
      pending_incoming: cents(total),
    });

    // While the work posts, every read is one snapshot: what is posted left pending in the same read.
    let draining = true;
    const samples: { payer: bigint; payee: bigint }[] = [];
    const sampler = (async () => {
      while (draining) {
        const [a, b] = await Promise.all([
          figures(payer.account.account_number, payer),
          figures(payee.account.account_number, payee),
        ]);
        samples.push({ payer: a.available - a.out + a.in, payee: b.available - b.out + b.in });
      }
    })();
    await drainFor(payer.account.account_number);
    draining = false;
    await sampler;
    expect(samples.length).toBeGreaterThan(0);
    for (const s of samples) expect(s).toEqual({ payer: 1_000_000n - total, payee: total });

    expect(await balance(payer.account.account_number, payer)).toMatchObject({
      available_balance: cents(1_000_000n - total),
      pending_outgoing: "0.00",
      pending_incoming: "0.00",
    });
    expect(await balance(payee.account.account_number, payee)).toMatchObject({
      available_balance: cents(total),
      pending_outgoing: "0.00",
      pending_incoming: "0.00",
    });
    await expectLedgerHealthy(t.services.sql);
  });

  it("manual capture: the authorization is pending out of the payer, then the capture into the payee", async () => {
    const ops = await makeUser(t.services, { role: "ops" });
    const payer = await makeUser(t.services, { balance: 10_000n });
    const payee = await makeUser(t.services, { role: "merchant" });
    const p = payer.account.account_number;
    const m = payee.account.account_number;
    const holdsBefore = await figures(HOLDS, ops);

    const res = await pay(t, payer, {
      from_account: p,
      to_account: m,
      amount: "40.00",
      currency: "USD",
      capture_method: "manual",
    });
    expect(res.status).toBe(202);
    expect(await figures(p, payer)).toEqual({ available: 10_000n, held: 0n, out: 4_000n, in: 0n });
    expect(await figures(m, payee)).toEqual({ available: 0n, held: 0n, out: 0n, in: 0n });
    // An authorization credits the holds account, not the payee.
    expect(await figures(HOLDS, ops)).toMatchObject({ out: holdsBefore.out, in: holdsBefore.in + 4_000n });

    await drainFor(p);
    // Authorized: the money is held, no longer pending.
    expect(await figures(p, payer)).toEqual({ available: 6_000n, held: 4_000n, out: 0n, in: 0n });
    expect(await figures(HOLDS, ops)).toMatchObject({ out: holdsBefore.out, in: holdsBefore.in });

    const capture = await t.request("POST", `/api/v1/payments/${res.body.id}/capture`, {
      token: payee.token,
      body: { amount: "30.00" },
      headers: { "Idempotency-Key": key() },
    });
    expect(capture.status).toBe(202);
    // The capture: incoming of the payee (captured) and of the payer (the rest, released); the
    // payer's held 40.00 is not pending out again; all that is held leaves the holds account.
    expect(await figures(m, payee)).toEqual({ available: 0n, held: 0n, out: 0n, in: 3_000n });
    expect(await figures(p, payer)).toEqual({ available: 6_000n, held: 4_000n, out: 0n, in: 1_000n });
    expect(await figures(HOLDS, ops)).toMatchObject({ out: holdsBefore.out + 4_000n, in: holdsBefore.in });

    await drainFor(p);
    expect(await figures(m, payee)).toEqual({ available: 3_000n, held: 0n, out: 0n, in: 0n });
    expect(await figures(p, payer)).toEqual({ available: 7_000n, held: 0n, out: 0n, in: 0n });
    expect(await figures(HOLDS, ops)).toMatchObject({ out: holdsBefore.out, in: holdsBefore.in });
    await expectLedgerHealthy(t.services.sql);
  });

  it("refunds are pending out of the payee and into the payer", async () => {
    const payer = await makeUser(t.services, { balance: 10_000n });
    const payee = await makeUser(t.services, { role: "merchant" });
    const p = payer.account.account_number;
    const m = payee.account.account_number;
    const res = await pay(t, payer, { from_account: p, to_account: m, amount: "50.00", currency: "USD" });
    await drainFor(p);

    const refund = await t.request("POST", "/api/v1/refunds", {
      token: payee.token,
      body: { payment_id: res.body.id, amount: "20.00" },
      headers: { "Idempotency-Key": key() },
    });
    expect(refund.status).toBe(202);
    expect(await figures(m, payee)).toEqual({ available: 5_000n, held: 0n, out: 2_000n, in: 0n });
    expect(await figures(p, payer)).toEqual({ available: 5_000n, held: 0n, out: 0n, in: 2_000n });

    await drainFor(m);
    expect(await figures(m, payee)).toEqual({ available: 3_000n, held: 0n, out: 0n, in: 0n });
    expect(await figures(p, payer)).toEqual({ available: 7_000n, held: 0n, out: 0n, in: 0n });
  });

  it("a payment declined for insufficient funds leaves nothing pending", async () => {
    const payer = await makeUser(t.services, { balance: 500n });
    const payee = await makeUser(t.services);
    const p = payer.account.account_number;
    const q = payee.account.account_number;
    const res = await pay(t, payer, { from_account: p, to_account: q, amount: "10.00", currency: "USD" });
    expect(res.status).toBe(202);
    expect(await figures(p, payer)).toEqual({ available: 500n, held: 0n, out: 1_000n, in: 0n });
    expect(await figures(q, payee)).toEqual({ available: 0n, held: 0n, out: 0n, in: 1_000n });

    await drainFor(p);
    const [row] = await t.services.sql`select status, failure_code from payments where id = ${res.body.id}`;
    expect(row).toMatchObject({ status: "failed", failure_code: "insufficient_funds" });
    expect(await figures(p, payer)).toEqual({ available: 500n, held: 0n, out: 0n, in: 0n });
    expect(await figures(q, payee)).toEqual({ available: 0n, held: 0n, out: 0n, in: 0n });
  });

  it("set-aside work counts as pending until ops resolve it", async () => {
    const admin = await makeUser(t.services, { role: "admin" });
    const payer = await makeUser(t.services, { balance: 10_000n });
    const payee = await makeUser(t.services);
    const p = payer.account.account_number;
    const q = payee.account.account_number;
    const res = await pay(t, payer, { from_account: p, to_account: q, amount: "12.00", currency: "USD" });
    // As the engine sets aside an operation it cannot post.
    const [op] = await t.services.sql<{ id: string }[]>`
      update operations set status = 'failed', error = 'test: set aside',
                            set_aside_at = clock_timestamp()
       where payment_id = ${res.body.id} returning id`;
    await drainFor(p);
    expect(await figures(p, payer)).toEqual({ available: 10_000n, held: 0n, out: 1_200n, in: 0n });
    expect(await figures(q, payee)).toEqual({ available: 0n, held: 0n, out: 0n, in: 1_200n });

    const resolved = await t.request("POST", `/api/v1/ops/operations/${op!.id}/resolve`, {
      token: admin.token,
      body: { reason: "test" },
      headers: { "Idempotency-Key": key() },
    });
    expect(resolved.status).toBe(200);
    expect(await figures(p, payer)).toEqual({ available: 10_000n, held: 0n, out: 0n, in: 0n });
    expect(await figures(q, payee)).toEqual({ available: 0n, held: 0n, out: 0n, in: 0n });
  });

  it("only the owner, ops and admin see them; a past instant has none", async () => {
    const payer = await makeUser(t.services, { balance: 10_000n });
    const payee = await makeUser(t.services);
    const stranger = await makeUser(t.services);
    const ops = await makeUser(t.services, { role: "ops" });
    const admin = await makeUser(t.services, { role: "admin" });
    const p = payer.account.account_number;
    const before = new Date(Date.now() - 1000).toISOString();
    await pay(t, payer, {
      from_account: p,
      to_account: payee.account.account_number,
      amount: "1.00",
      currency: "USD",
    });

    for (const viewer of [payer, ops, admin]) {
      expect(await balance(p, viewer)).toMatchObject({ pending_outgoing: "1.00", pending_incoming: "0.00" });
    }
    expectProblem(await t.request("GET", `/api/v1/accounts/${p}/balance`, { token: stranger.token }), 404);
    expectProblem(await t.request("GET", `/api/v1/accounts/${p}/balance`, { token: payee.token }), 404);
    expectProblem(await t.request("GET", `/api/v1/accounts/${p}/balance`), 401);

    const past = await t.request("GET", `/api/v1/accounts/${p}/balance?at=${encodeURIComponent(before)}`, {
      token: payer.token,
    });
    expect(past.status).toBe(200);
    expect(past.body).toMatchObject({ pending_outgoing: null, pending_incoming: null });
    await drainFor(p);
  });
});

describe("pending amounts of split payments", () => {
  it("credit each payee its split, its share of a capture, and debit its share of a refund", async () => {
    const payer = await makeUser(t.services, { balance: 100_000n });
    const payees = await Promise.all([1, 2, 3].map(() => makeUser(t.services, { role: "merchant" })));
    const accountOf = (u: TestUser) => u.account.account_number;
    const incoming = async () => Promise.all(payees.map(async (u) => (await figures(accountOf(u), u)).in));
    const outgoing = async () => Promise.all(payees.map(async (u) => (await figures(accountOf(u), u)).out));
    const split = (amounts: string[], extra: Record<string, unknown> = {}) =>
      t.request("POST", "/api/v1/payments", {
        token: payer.token,
        headers: { "Idempotency-Key": key() },
        body: {
          from_account: accountOf(payer),
          amount: amounts.reduce(
            (a, x) => cents(BigInt(a.replace(".", "")) + BigInt(x.replace(".", ""))),
            "0.00",
          ),
          currency: "USD",
          splits: payees.map((u, i) => ({ to_account: accountOf(u), amount: amounts[i] })),
          ...extra,
        },
      });

    // Pending: each payee expects its split (not the whole amount on the merchant of record).
    const res = await split(["3.33", "3.33", "3.34"]);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(await incoming()).toEqual([333n, 333n, 334n]);
    expect((await figures(accountOf(payer), payer)).out).toBe(1000n);
    await drainFor(accountOf(payer));
    expect(await incoming()).toEqual([0n, 0n, 0n]);

    // A refund of 1.00 pending: out of each payee by the pro-rata rule (0.34 / 0.33 / 0.33).
    const refund = await t.request("POST", "/api/v1/refunds", {
      token: payees[0]!.token,
      headers: { "Idempotency-Key": key() },
      body: { payment_id: res.body.id, amount: "1.00" },
    });
    expect(refund.status, JSON.stringify(refund.body)).toBe(202);
    expect(await outgoing()).toEqual([34n, 33n, 33n]);
    expect((await figures(accountOf(payer), payer)).in).toBe(100n);
    await drainFor(accountOf(payees[0]!));
    expect(await outgoing()).toEqual([0n, 0n, 0n]);

    // A manual 5/3/2 split captured at 7.01: the payees expect 3.51 / 2.10 / 1.40, the payer 2.99 back.
    const held = await split(["5.00", "3.00", "2.00"], { capture_method: "manual" });
    expect(held.status).toBe(202);
    await drainFor(accountOf(payer));
    const capture = await t.request("POST", `/api/v1/payments/${held.body.id}/capture`, {
      token: payees[0]!.token,
      headers: { "Idempotency-Key": key() },
      body: { amount: "7.01" },
    });
    expect(capture.status, JSON.stringify(capture.body)).toBe(202);
    expect(await incoming()).toEqual([351n, 210n, 140n]);
    expect((await figures(accountOf(payer), payer)).in).toBe(299n);
    await drainFor(accountOf(payer));
    expect(await incoming()).toEqual([0n, 0n, 0n]);
    await expectLedgerHealthy(t.services.sql);
  });
});
