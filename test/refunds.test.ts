import { afterEach, describe, expect, it } from "vitest";
import { newId } from "../shared/ids.ts";
import { accountOrderKey, partitionOf } from "../shared/jobs.ts";
import { drainPartition } from "../shared/payments/posting.ts";
import { makeUser, type TestApp, type TestUser, useApp } from "./support/app.ts";
import { expectLedgerHealthy } from "./support/db.ts";
import { isolatedEnv } from "./support/isolated.ts";
import { balanceOf, key, pay, settled, useWorkers } from "./support/payments.ts";
import { waitFor } from "./support/wait.ts";

const t = await useApp();
await useWorkers(t.services);
afterEach(() => expectLedgerHealthy(t.services.sql));

async function paid(app: TestApp, payer: TestUser, payee: TestUser, amount: string): Promise<string> {
  const res = await pay(app, payer, {
    from_account: payer.account.account_number,
    to_account: payee.account.account_number,
    amount,
    currency: "USD",
  });
  const [row] = await settled(app.services, [res.body.id]);
  expect(row?.status).toBe("succeeded");
  return res.body.id;
}

function refund(app: TestApp, user: TestUser, body: Record<string, unknown>, k: string | null = key()) {
  return app.request("POST", "/api/v1/refunds", {
    token: user.token,
    body,
    headers: k === null ? {} : { "Idempotency-Key": k },
  });
}

async function refundsSettled(app: TestApp, ids: string[]) {
  return waitFor(
    async () => {
      const rows = await app.services.sql<{ id: string; status: string; failure_code: string | null }[]>`
        select id, status, failure_code from refunds where id = any(${ids}::text[])`;
      return rows.length === ids.length && rows.every((r) => r.status !== "pending") ? rows : null;
    },
    { what: "refunds to settle" },
  );
}

describe("refunds", () => {
  it("partial and repeated refunds up to the captured amount, then 422", async () => {
    const customer = await makeUser(t.services, { balance: 10_000n });
    const merchant = await makeUser(t.services, { role: "merchant" });
    const paymentId = await paid(t, customer, merchant, "50.00");

    const first = await refund(t, merchant, {
      payment_id: paymentId,
      amount: "20.00",
      reason: "requested_by_customer",
    });
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({
      object: "refund",
      payment_id: paymentId,
      amount: "20.00",
      currency: "USD",
      status: "pending",
      reason: "requested_by_customer",
      completed_at: null,
    });
    expect(first.body.id).toMatch(/^re_/);
    const rest = await refund(t, merchant, { payment_id: paymentId }); // default: everything left
    expect(rest.body.amount).toBe("30.00");
    const beyond = await refund(t, merchant, { payment_id: paymentId, amount: "0.01" });
    expect(beyond.status).toBe(422);
    expect(beyond.body.code).toBe("refund_exceeds_payment");
    expect(beyond.body.errors[0].pointer).toBe("/amount");

    await refundsSettled(t, [first.body.id, rest.body.id]);
    const got = await t.request("GET", `/api/v1/refunds/${first.body.id}`, { token: customer.token });
    expect(got.body).toMatchObject({ status: "succeeded" });
    expect(got.body.transaction_id).toMatch(/^tx_/);
    const payment = await t.request("GET", `/api/v1/payments/${paymentId}`, { token: merchant.token });
    expect(payment.body.amount_refunded).toBe("50.00");
    expect(await balanceOf(t.services, customer.account.account_number)).toBe(10_000n);
    expect(await balanceOf(t.services, merchant.account.account_number)).toBe(0n);
    const events = await t.services
      .sql`select type, refund_id from events where payment_id = ${paymentId} and refund_id is not null`;
    expect(events.map((e) => e.type)).toEqual(["refund.succeeded", "refund.succeeded"]);

    const list = await t.request("GET", `/api/v1/refunds?payment_id=${paymentId}&limit=1`, {
      token: customer.token,
    });
    expect(list.body.data).toHaveLength(1);
    expect(list.body.data[0].id).toBe(rest.body.id);
    expect(list.body.has_more).toBe(true);
    const page2 = await t.request(
      "GET",
      `/api/v1/refunds?payment_id=${paymentId}&cursor=${list.body.next_cursor}`,
      {
        token: customer.token,
      },
    );
    expect(page2.body.data.map((r: any) => r.id)).toEqual([first.body.id]);
    const mine = await t.request("GET", "/api/v1/refunds", { token: merchant.token });
    expect(mine.body.data.map((r: any) => r.id)).toEqual([rest.body.id, first.body.id]);

    const history = await t.request("GET", `/api/v1/accounts/${merchant.account.account_number}/history`, {
      token: merchant.token,
    });
    expect(
      history.body.data.filter((e: any) => e.refund_id).map((e: any) => [e.direction, e.amount]),
    ).toEqual([
      ["DEBIT", "30.00"],
      ["DEBIT", "20.00"],
    ]);
  });

  it("20 concurrent 5.00 refunds of a 50.00 payment refund exactly 50.00", async () => {
    const customer = await makeUser(t.services, { balance: 10_000n });
    const merchant = await makeUser(t.services, { role: "merchant" });
    const paymentId = await paid(t, customer, merchant, "50.00");
    const results = await Promise.all(
      Array.from({ length: 20 }, () => refund(t, merchant, { payment_id: paymentId, amount: "5.00" })),
    );
    const accepted = results.filter((r) => r.status === 202);
    expect(accepted).toHaveLength(10);
    expect(
      results.filter((r) => r.status === 422).every((r) => r.body.code === "refund_exceeds_payment"),
    ).toBe(true);
    const rows = await refundsSettled(
      t,
      accepted.map((r) => r.body.id),
    );
    expect(rows.every((r) => r.status === "succeeded")).toBe(true);
    const [p] = await t.services.sql`select amount_refunded from payments where id = ${paymentId}`;
    expect(p?.amount_refunded).toBe(5_000n);
    expect(await balanceOf(t.services, merchant.account.account_number)).toBe(0n);
  });

  it("a payee without the funds: the refund fails with insufficient_funds", async () => {
    const customer = await makeUser(t.services, { balance: 10_000n });
    const merchant = await makeUser(t.services, { role: "merchant" });
    const elsewhere = await makeUser(t.services);
    const paymentId = await paid(t, customer, merchant, "30.00");
    await paid(t, merchant, elsewhere, "25.00"); // the merchant spends most of it
    const res = await refund(t, merchant, { payment_id: paymentId, amount: "10.00" });
    expect(res.status).toBe(202);
    const [row] = await refundsSettled(t, [res.body.id]);
    expect(row).toMatchObject({ status: "failed", failure_code: "insufficient_funds" });
    const [evt] = await t.services.sql`select type from events where refund_id = ${res.body.id}`;
    expect(evt?.type).toBe("refund.failed");
    const [p] = await t.services.sql`select amount_refunded from payments where id = ${paymentId}`;
    expect(p?.amount_refunded).toBe(0n);
  });

  it("refuses what it must, with clear codes, and changes nothing", async () => {
    const customer = await makeUser(t.services, { balance: 10_000n });
    const merchant = await makeUser(t.services, { role: "merchant" });
    const stranger = await makeUser(t.services);
    const paymentId = await paid(t, customer, merchant, "10.00");
    expect((await refund(t, customer, { payment_id: paymentId })).status).toBe(403);
    expect((await refund(t, stranger, { payment_id: paymentId })).status).toBe(404);
    expect((await refund(t, merchant, { payment_id: "pay_missing" })).status).toBe(404);
    expect((await refund(t, merchant, { payment_id: paymentId }, null)).body.code).toBe(
      "idempotency_key_required",
    );
    expect((await t.request("POST", "/api/v1/refunds", { body: { payment_id: paymentId } })).status).toBe(
      401,
    );
    expect((await refund(t, merchant, { payment_id: paymentId, amount: "1.001" })).body.code).toBe(
      "amount_invalid_precision",
    );
    expect((await refund(t, merchant, { payment_id: paymentId, amount: "-1" })).body.code).toBe(
      "amount_not_positive",
    );
    expect((await refund(t, merchant, { payment_id: paymentId, reason: "bored" })).status).toBe(422);
    const failed = await pay(t, customer, {
      from_account: customer.account.account_number,
      to_account: merchant.account.account_number,
      amount: "500.00",
      currency: "USD",
    });
    await settled(t.services, [failed.body.id]);
    const notRefundable = await refund(t, merchant, { payment_id: failed.body.id });
    expect(notRefundable.body.code).toBe("payment_not_refundable");
    const [n] = await t.services
      .sql`select count(*)::int as n from refunds where payment_id in (${paymentId}, ${failed.body.id})`;
    expect(n?.n).toBe(0);
    const admin = await makeUser(t.services, { role: "admin" });
    expect((await refund(t, admin, { payment_id: paymentId, amount: "1.00" })).status).toBe(202);
  });

  it("hides refunds from strangers", async () => {
    const customer = await makeUser(t.services, { balance: 10_000n });
    const merchant = await makeUser(t.services, { role: "merchant" });
    const stranger = await makeUser(t.services);
    const paymentId = await paid(t, customer, merchant, "10.00");
    const res = await refund(t, merchant, { payment_id: paymentId, amount: "1.00" });
    expect((await t.request("GET", `/api/v1/refunds/${res.body.id}`, { token: stranger.token })).status).toBe(
      404,
    );
    expect(
      (await t.request("GET", `/api/v1/refunds?payment_id=${paymentId}`, { token: stranger.token })).status,
    ).toBe(404);
    expect((await t.request("GET", "/api/v1/refunds", { token: stranger.token })).body.data).toEqual([]);
    expect((await t.request("GET", `/api/v1/refunds/${res.body.id}`)).status).toBe(401);
    await refundsSettled(t, [res.body.id]);
  });
});

describe("refunds re-checked at posting", async () => {
  const isolated = await useApp(await isolatedEnv("refunds"));

  it("concurrent refunds that slipped past acceptance can never exceed the payment: the later one fails", async () => {
    const customer = await makeUser(isolated.services, { balance: 10_000n });
    const merchant = await makeUser(isolated.services, { role: "merchant" });
    const res = await pay(isolated, customer, {
      from_account: customer.account.account_number,
      to_account: merchant.account.account_number,
      amount: "50.00",
      currency: "USD",
    });
    const p = partitionOf(customer.account.account_number, isolated.services.config.POSTING_PARTITIONS);
    await drainPartition(isolated.services, p);
    // Two refunds of 30.00 written straight to the outbox, as if both had passed acceptance.
    const q = partitionOf(merchant.account.account_number, isolated.services.config.POSTING_PARTITIONS);
    const ids = [newId("re"), newId("re")];
    for (const id of ids) {
      await isolated.services.sql`
        insert into refunds (id, payment_id, amount, currency, created_by) values (${id}, ${res.body.id}, 3000, 'USD', ${merchant.id})`;
      await isolated.services.sql`
        insert into operations (id, order_key, kind, payment_id, refund_id, amount)
        values (${newId("op")}, ${accountOrderKey(merchant.account.account_number)}, 'refund', ${res.body.id}, ${id}, 3000)`;
    }
    await drainPartition(isolated.services, q);
    const rows = await isolated.services
      .sql`select id, status, failure_code from refunds where id = any(${ids}::text[]) order by id`;
    expect(rows.map((r) => [r.status, r.failure_code])).toEqual([
      ["succeeded", null],
      ["failed", "refund_exceeds_payment"],
    ]);
    const [pay_] = await isolated.services
      .sql`select amount_refunded from payments where id = ${res.body.id}`;
    expect(pay_?.amount_refunded).toBe(3_000n);
    await expectLedgerHealthy(isolated.services.sql);
  });
});
