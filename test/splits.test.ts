import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { drainPartition } from "../shared/payments/posting.ts";
import { proRata } from "../shared/payments/splits.ts";
import { makeUser, type TestUser, useApp } from "./support/app.ts";
import { expectFieldError, expectProblem } from "./support/auth.ts";
import { expectLedgerHealthy } from "./support/db.ts";
import { isolatedEnv } from "./support/isolated.ts";
import { balanceOf, key, pay } from "./support/payments.ts";

// Its own database and queues, and no workers: this file drives the posting engine by hand.
const t = await useApp(await isolatedEnv("splits"));
afterAll(() => expectLedgerHealthy(t.services.sql));

/** Posts everything pending, in every partition. */
async function drain(): Promise<void> {
  for (let p = 0; p < t.services.config.POSTING_PARTITIONS; p++) await drainPartition(t.services, p);
}

const post = (user: TestUser, path: string, body: Record<string, unknown>) =>
  t.request("POST", path, { token: user.token, body, headers: { "Idempotency-Key": key() } });

async function party(balance = 0n, currency = "USD") {
  return makeUser(t.services, { balance, currency });
}

/** Ledger entries of a payment's (or refund's) transactions, by account, in minor units. */
async function entriesOf(where: { payment?: string; refund?: string; kind?: string }) {
  const rows = await t.services.sql<
    { transaction_id: string; account_number: string; direction: string; amount: bigint }[]
  >`
    select e.transaction_id, e.account_number, e.direction, e.amount
      from ledger_entries e join transactions x on x.id = e.transaction_id
     where ${where.refund ? t.services.sql`x.refund_id = ${where.refund}` : t.services.sql`x.payment_id = ${where.payment!} and x.refund_id is null`}
       ${where.kind ? t.services.sql`and x.kind = ${where.kind}` : t.services.sql``}`;
  return rows;
}

function amounts(rows: { account_number: string; direction: string; amount: bigint }[]) {
  return Object.fromEntries(rows.map((r) => [`${r.direction} ${r.account_number}`, r.amount]));
}

describe("the pro-rata rule", () => {
  it("divides exactly, each share within one minor unit of its exact part, the leftover to the first", () => {
    fc.assert(
      fc.property(
        fc.array(fc.bigInt({ min: 1n, max: 10n ** 13n }), { minLength: 1, maxLength: 10 }),
        fc.bigInt({ min: 0n, max: 10n ** 14n }),
        (weights, total) => {
          const sum = weights.reduce((a, w) => a + w, 0n);
          const shares = proRata(total, weights);
          expect(shares.reduce((a, s) => a + s, 0n)).toBe(total);
          const floors = weights.map((w) => (total * w) / sum);
          const extra = shares.map((s, i) => s - floors[i]!);
          expect(extra.every((e) => e === 0n || e === 1n)).toBe(true);
          // The leftover units go to the first splits in order: ones, then zeros.
          const ones = extra.filter((e) => e === 1n).length;
          expect(extra.slice(0, ones).every((e) => e === 1n)).toBe(true);
          expect(ones).toBeLessThan(weights.length);
          if (total <= sum) expect(shares.every((s, i) => s <= weights[i]!)).toBe(true);
        },
      ),
    );
    expect(proRata(100n, [333n, 333n, 334n])).toEqual([34n, 33n, 33n]);
    expect(proRata(1000n, [333n, 333n, 334n])).toEqual([333n, 333n, 334n]);
  });
});

describe("split payments", () => {
  it("refuses bad splits with a 422 (or 404) naming the field", async () => {
    const payer = await party(100_000n);
    const [a, b] = [await party(), await party()];
    const eur = await party(0n, "EUR");
    const body = (splits: unknown, extra: Record<string, unknown> = {}) => ({
      from_account: payer.account.account_number,
      amount: "10.00",
      currency: "USD",
      splits,
      ...extra,
    });
    const to = (acc: TestUser, amount: string) => ({ to_account: acc.account.account_number, amount });
    const cases: [string, Record<string, unknown>, number, string, string][] = [
      ["the sum differs", body([to(a, "5.00"), to(b, "4.99")]), 422, "splits_mismatch", "/splits"],
      [
        "the payer as a payee",
        body([to(a, "5.00"), to(payer, "5.00")]),
        422,
        "same_account",
        "/splits/1/to_account",
      ],
      [
        "one account twice",
        body([to(a, "5.00"), to(a, "5.00")]),
        422,
        "duplicate_split_account",
        "/splits/1/to_account",
      ],
      ["no splits", body([]), 422, "validation_failed", "/splits"],
      [
        "eleven splits",
        body(Array.from({ length: 11 }, () => to(a, "1.00"))),
        422,
        "validation_failed",
        "/splits",
      ],
      [
        "another currency",
        body([to(a, "5.00"), to(eur, "5.00")]),
        422,
        "currency_mismatch",
        "/splits/1/to_account",
      ],
      [
        "a system account",
        body([to(a, "5.00"), { to_account: "SYS_EXTERNAL_USD", amount: "5.00" }]),
        422,
        "invalid_split_account",
        "/splits/1/to_account",
      ],
      [
        "an unknown account",
        body([to(a, "5.00"), { to_account: "ACC_NOPE", amount: "5.00" }]),
        404,
        "account_not_found",
        "/splits/1/to_account",
      ],
      [
        "a bad split amount",
        body([to(a, "5.001"), to(b, "5.00")]),
        422,
        "amount_invalid_precision",
        "/splits/0/amount",
      ],
      [
        "both to_account and splits",
        body([to(a, "10.00")], { to_account: b.account.account_number }),
        422,
        "validation_failed",
        "/splits",
      ],
      ["neither", body(undefined), 422, "validation_failed", "/to_account"],
    ];
    for (const [name, request, status, code, pointer] of cases) {
      const res = await pay(t, payer, request);
      expectProblem(res, status, code);
      expect(
        res.body.errors.map((e: { pointer: string }) => e.pointer),
        name,
      ).toContain(pointer);
      if (status === 422) expectFieldError(res, pointer);
    }
    const [n] = await t.services
      .sql`select count(*)::int as n from payments where from_account = ${payer.account.account_number}`;
    expect(n?.n).toBe(0);
  });

  it("posts as one ledger transaction; every party sees it; refunds pro rata; a short payee fails the whole refund", async () => {
    const payer = await party(10_000n);
    const [m, b, c] = [await party(), await party(), await party()];
    const stranger = await party();
    const res = await pay(t, payer, {
      from_account: payer.account.account_number,
      amount: "10.00",
      currency: "USD",
      splits: [
        { to_account: m.account.account_number, amount: "3.33" },
        { to_account: b.account.account_number, amount: "3.33" },
        { to_account: c.account.account_number, amount: 3.34 },
      ],
    });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body).toMatchObject({
      to_account: null,
      amount: "10.00",
      splits: [
        { to_account: m.account.account_number, amount: "3.33" },
        { to_account: b.account.account_number, amount: "3.33" },
        { to_account: c.account.account_number, amount: "3.34" },
      ],
    });
    const id = res.body.id as string;
    await drain();

    const entries = await entriesOf({ payment: id });
    expect(new Set(entries.map((e) => e.transaction_id)).size).toBe(1);
    expect(entries).toHaveLength(4);
    expect(amounts(entries)).toEqual({
      [`DEBIT ${payer.account.account_number}`]: 1000n,
      [`CREDIT ${m.account.account_number}`]: 333n,
      [`CREDIT ${b.account.account_number}`]: 333n,
      [`CREDIT ${c.account.account_number}`]: 334n,
    });
    expect(await balanceOf(t.services, payer.account.account_number)).toBe(9_000n);

    // Payer and every payee see it (in the list too); a stranger does not.
    for (const who of [payer, m, b, c]) {
      const got = await t.request("GET", `/api/v1/payments/${id}`, { token: who.token });
      expect(got.status).toBe(200);
      expect(got.body).toMatchObject({ status: "succeeded", to_account: null });
      const list = await t.request("GET", "/api/v1/payments", { token: who.token });
      expect(list.body.data.map((p: { id: string }) => p.id)).toContain(id);
    }
    expect((await t.request("GET", `/api/v1/payments/${id}`, { token: stranger.token })).status).toBe(404);
    const events = await t.services.sql<{ type: string; user_ids: string[] }[]>`
      select type, user_ids from events where payment_id = ${id}`;
    expect(events.map((e) => e.type)).toEqual(["payment.succeeded"]);
    expect([...events[0]!.user_ids].sort()).toEqual([payer.id, m.id, b.id, c.id].sort());

    // Only the merchant of record (first split) refunds.
    expectProblem(await post(b, "/api/v1/refunds", { payment_id: id, amount: "1.00" }), 403, "forbidden");
    const one = await post(m, "/api/v1/refunds", { payment_id: id, amount: "1.00" });
    expect(one.status, JSON.stringify(one.body)).toBe(202);
    await drain();
    const refundEntries = await entriesOf({ refund: one.body.id });
    expect(new Set(refundEntries.map((e) => e.transaction_id)).size).toBe(1);
    // floor(100 * 333/1000) = 33, 33, floor(100 * 334/1000) = 33: 99, the leftover unit to the first.
    expect(amounts(refundEntries)).toEqual({
      [`DEBIT ${m.account.account_number}`]: 34n,
      [`DEBIT ${b.account.account_number}`]: 33n,
      [`DEBIT ${c.account.account_number}`]: 33n,
      [`CREDIT ${payer.account.account_number}`]: 100n,
    });
    // A non-first payee sees the refund and its event.
    expect((await t.request("GET", `/api/v1/refunds/${one.body.id}`, { token: c.token })).status).toBe(200);
    const [refundEvent] = await t.services.sql<{ user_ids: string[] }[]>`
      select user_ids from events where refund_id = ${one.body.id}`;
    expect([...refundEvent!.user_ids].sort()).toEqual([payer.id, m.id, b.id, c.id].sort());

    // c moves its money away: a refund of everything left fails as a whole, nobody is debited.
    const away = await pay(t, c, {
      from_account: c.account.account_number,
      to_account: stranger.account.account_number,
      amount: "3.00",
      currency: "USD",
    });
    await drain();
    expect((await t.services.sql`select status from payments where id = ${away.body.id}`)[0]?.status).toBe(
      "succeeded",
    );
    const before = await Promise.all(
      [payer, m, b, c].map((u) => balanceOf(t.services, u.account.account_number)),
    );
    const rest = await post(m, "/api/v1/refunds", { payment_id: id });
    expect(rest.status, JSON.stringify(rest.body)).toBe(202);
    await drain();
    const [failed] = await t.services
      .sql`select status, failure_code from refunds where id = ${rest.body.id}`;
    expect(failed).toMatchObject({ status: "failed", failure_code: "insufficient_funds" });
    const after = await Promise.all(
      [payer, m, b, c].map((u) => balanceOf(t.services, u.account.account_number)),
    );
    expect(after).toEqual(before);
    expect(await entriesOf({ refund: rest.body.id })).toHaveLength(0);
  });

  it("captures a split hold pro rata, only by the merchant of record, and refunds the captured shares exactly", async () => {
    const payer = await party(10_000n);
    const [m, b, c] = [await party(), await party(), await party()];
    const res = await pay(t, payer, {
      from_account: payer.account.account_number,
      amount: "10.00",
      currency: "USD",
      capture_method: "manual",
      splits: [
        { to_account: m.account.account_number, amount: "5.00" },
        { to_account: b.account.account_number, amount: "3.00" },
        { to_account: c.account.account_number, amount: "2.00" },
      ],
    });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const id = res.body.id as string;
    await drain();
    expect((await t.request("GET", `/api/v1/payments/${id}`, { token: c.token })).body.status).toBe(
      "requires_capture",
    );

    expectProblem(await post(b, `/api/v1/payments/${id}/capture`, { amount: "7.01" }), 403, "forbidden");
    const captured = await post(m, `/api/v1/payments/${id}/capture`, { amount: "7.01" });
    expect(captured.status, JSON.stringify(captured.body)).toBe(202);
    await drain();
    const capture = await entriesOf({ payment: id, kind: "capture" });
    expect(new Set(capture.map((e) => e.transaction_id)).size).toBe(1);
    // floor(701 * 5/10) = 350, floor(701 * 3/10) = 210, floor(701 * 2/10) = 140: 700, +1 to the first.
    expect(amounts(capture)).toEqual({
      "DEBIT SYS_HOLDS_USD": 1000n,
      [`CREDIT ${m.account.account_number}`]: 351n,
      [`CREDIT ${b.account.account_number}`]: 210n,
      [`CREDIT ${c.account.account_number}`]: 140n,
      [`CREDIT ${payer.account.account_number}`]: 299n,
    });
    const events = await t.services.sql<{ type: string; user_ids: string[] }[]>`
      select type, user_ids from events where payment_id = ${id} order by created_at, id`;
    expect(events.map((e) => e.type)).toEqual(["payment.requires_capture", "payment.succeeded"]);
    for (const e of events) expect([...e.user_ids].sort()).toEqual([payer.id, m.id, b.id, c.id].sort());

    // A full refund takes back exactly what each payee was captured.
    const all = await post(m, "/api/v1/refunds", { payment_id: id });
    expect(all.status, JSON.stringify(all.body)).toBe(202);
    await drain();
    expect(amounts(await entriesOf({ refund: all.body.id }))).toEqual({
      [`DEBIT ${m.account.account_number}`]: 351n,
      [`DEBIT ${b.account.account_number}`]: 210n,
      [`DEBIT ${c.account.account_number}`]: 140n,
      [`CREDIT ${payer.account.account_number}`]: 701n,
    });
    for (const u of [m, b, c]) expect(await balanceOf(t.services, u.account.account_number)).toBe(0n);
    expect(await balanceOf(t.services, payer.account.account_number)).toBe(10_000n);
    await expectLedgerHealthy(t.services.sql);
  });
});
