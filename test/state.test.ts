import { describe, expect, it } from "vitest";
import { accountOrderKey } from "../shared/jobs.ts";
import { expireDueHolds } from "../shared/payments/holds.ts";
import { OPERATION_STATUSES } from "../shared/payments/operations.ts";
import { drainPartition } from "../shared/payments/posting.ts";
import {
  applyPayoutTransition,
  applyTransition,
  IllegalTransitionError,
  OPERATION_KINDS,
  PAYMENT_STATUSES,
  PAYOUT_STATUSES,
  PAYOUT_TRANSITIONS,
  type PayoutTransition,
  REFUND_STATUSES,
  TRANSITIONS,
  type Transition,
} from "../shared/payments/state.ts";
import type { PaymentRow } from "../shared/payments/types.ts";
import type { PayoutRow } from "../shared/payouts/types.ts";
import { EVENT_TYPES } from "../shared/webhooks/events.ts";
import { makeUser, type TestUser, useApp } from "./support/app.ts";
import { isolatedEnv } from "./support/isolated.ts";
import { key, pay } from "./support/payments.ts";

// Its own database and no workers: each scenario drives the posting engine by hand (one partition).
const t = await useApp(await isolatedEnv("state"));
const drain = () => drainPartition(t.services, 0);

const keyOf = (r: Pick<Transition, "kind" | "from" | "pendingAction" | "outcome">) =>
  `${r.kind} ${r.from}${r.pendingAction ? `+${r.pendingAction}` : ""} ${r.outcome}`;

async function payment(id: string) {
  const [row] = await t.services.sql<PaymentRow[]>`select * from payments where id = ${id}`;
  return row!;
}
async function eventsOf(id: string) {
  const rows = await t.services.sql<{ type: string }[]>`
    select type from events where payment_id = ${id} order by created_at, id`;
  return rows.map((r) => r.type);
}
async function operationsOf(id: string) {
  const rows = await t.services.sql<{ kind: string; status: string }[]>`
    select kind, status from operations where payment_id = ${id} order by seq`;
  return rows.map((r) => `${r.kind}:${r.status}`);
}
/** An account in another currency: a posting to it cannot balance, so posting it fails for good. */
async function foreignAccount(): Promise<string> {
  const owner = await makeUser(t.services, { currency: "EUR" });
  return owner.account.account_number;
}

async function parties(opts: { payerBalance?: bigint } = {}) {
  const payer = await makeUser(t.services, { balance: opts.payerBalance ?? 10_000n });
  const payee = await makeUser(t.services, { role: "merchant" });
  return { payer, payee };
}
async function newPayment(payer: TestUser, payee: TestUser, extra: Record<string, unknown> = {}) {
  const res = await pay(t, payer, {
    from_account: payer.account.account_number,
    to_account: payee.account.account_number,
    amount: "10.00",
    currency: "USD",
    ...extra,
  });
  expect(res.status).toBe(202);
  return res.body.id as string;
}
async function authorized() {
  const { payer, payee } = await parties();
  const id = await newPayment(payer, payee, { capture_method: "manual" });
  await drain();
  expect((await payment(id)).status).toBe("requires_capture");
  return { payer, payee, id };
}
async function succeeded() {
  const { payer, payee } = await parties();
  const id = await newPayment(payer, payee);
  await drain();
  return { payer, payee, id };
}
async function action(user: TestUser, id: string, verb: "capture" | "cancel", body: unknown = {}) {
  const res = await t.request("POST", `/api/v1/payments/${id}/${verb}`, {
    token: user.token,
    body,
    headers: { "Idempotency-Key": key() },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
}
async function refund(user: TestUser, paymentId: string, amount = "4.00") {
  const res = await t.request("POST", "/api/v1/refunds", {
    token: user.token,
    body: { payment_id: paymentId, amount },
    headers: { "Idempotency-Key": key() },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.id as string;
}
async function refundRow(id: string) {
  const [row] = await t.services.sql<{ status: string; failure_code: string | null }[]>`
    select status, failure_code from refunds where id = ${id}`;
  return row!;
}
/** Makes a held payment's release take more than its payer has held: posting it fails for good. */
async function overstateHold(payer: TestUser) {
  await t.services.sql`
    update accounts set held_balance = held_balance - 1 where account_number = ${payer.account.account_number}`;
}
async function expireNow(id: string) {
  await t.services.sql`update payments set hold_expires_at = now() - interval '1 second' where id = ${id}`;
  expect(await expireDueHolds(t.services)).toBeGreaterThanOrEqual(1);
}

const admin = await makeUser(t.services, { role: "admin" });

/** A payment whose posting fails for good (its payee now in another currency), drained: set aside. */
async function poisonedPayment() {
  const { payer, payee } = await parties();
  const id = await newPayment(payer, payee);
  await t.services.sql`update payments set to_account = ${await foreignAccount()} where id = ${id}`;
  await drain();
  return { id };
}
/** A capture whose amount is more than is held (it cannot balance), drained: set aside. */
async function poisonedCapture() {
  const { payee, id } = await authorized();
  await action(payee, id, "capture");
  await t.services.sql`update operations set amount = 999999 where payment_id = ${id} and kind = 'capture'`;
  await drain();
  return { id };
}
/** A cancel or expiry that would release more than the payer has held, drained: set aside. */
async function poisonedRelease(kind: "cancel" | "expire") {
  const { payer, id } = await authorized();
  if (kind === "cancel") await action(payer, id, "cancel");
  await overstateHold(payer);
  if (kind === "expire") await expireNow(id);
  await drain();
  return { id };
}
/** A refund whose payee is now in another currency, drained: set aside. */
async function poisonedRefund() {
  const { payee, id } = await succeeded();
  const re = await refund(payee, id);
  await t.services.sql`update payments set to_account = ${await foreignAccount()} where id = ${id}`;
  await drain();
  return { id, re };
}
async function setAsideOf(paymentId: string) {
  const [op] = await t.services.sql<{ id: string }[]>`
    select id from operations where payment_id = ${paymentId} and status = 'failed'`;
  expect(op, "a set-aside operation").toBeDefined();
  return op!.id;
}
/** Ops close the payment's set-aside operation without posting it. */
async function resolve(paymentId: string) {
  const res = await t.request("POST", `/api/v1/ops/operations/${await setAsideOf(paymentId)}/resolve`, {
    token: admin.token,
    body: { reason: "closed by ops in a test" },
    headers: { "Idempotency-Key": key() },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  expect(res.body.status).toBe("resolved");
}

/** One scenario per row of the table, each through the API and the real engine. */
const scenarios: Record<string, () => Promise<void>> = {
  "payment pending posted": async () => {
    const { id } = await succeeded();
    expect(await payment(id)).toMatchObject({ status: "succeeded", amount_captured: 1000n });
    expect((await payment(id)).transaction_id).toMatch(/^tx_/);
    expect(await eventsOf(id)).toEqual(["payment.succeeded"]);
  },
  "payment pending authorized": async () => {
    const { id } = await authorized();
    const p = await payment(id);
    expect(p).toMatchObject({ amount_capturable: 1000n, amount_captured: 0n, completed_at: null });
    expect(p.hold_expires_at).not.toBeNull();
    expect(await eventsOf(id)).toEqual(["payment.requires_capture"]);
  },
  "payment pending declined": async () => {
    const { payer, payee } = await parties({ payerBalance: 0n });
    const id = await newPayment(payer, payee);
    await drain();
    expect(await payment(id)).toMatchObject({ status: "failed", failure_code: "insufficient_funds" });
    expect(await eventsOf(id)).toEqual(["payment.failed"]);
  },
  "payment pending set_aside": async () => {
    const { id } = await poisonedPayment();
    expect(await payment(id)).toMatchObject({ status: "pending", failure_code: null });
    expect(await eventsOf(id)).toEqual([]);
    expect(await operationsOf(id)).toEqual(["payment:failed"]);
  },
  "payment pending resolved": async () => {
    const { id } = await poisonedPayment();
    await resolve(id);
    expect(await payment(id)).toMatchObject({ status: "failed", failure_code: "processing_error" });
    expect(await eventsOf(id)).toEqual(["payment.failed"]);
    expect(await operationsOf(id)).toEqual(["payment:resolved"]);
  },
  "capture requires_capture+capture posted": async () => {
    const { payee, id } = await authorized();
    await action(payee, id, "capture", { amount: "6.00" });
    await drain();
    expect(await payment(id)).toMatchObject({
      status: "succeeded",
      amount_captured: 600n,
      amount_capturable: 0n,
      pending_action: null,
    });
    expect(await eventsOf(id)).toEqual(["payment.requires_capture", "payment.succeeded"]);
  },
  "capture requires_capture+capture declined": async () => {
    const { payee, id } = await authorized();
    await action(payee, id, "capture");
    await t.services
      .sql`update accounts set status = 'closed' where account_number = ${payee.account.account_number}`;
    await drain();
    const p = await payment(id);
    expect(p).toMatchObject({ status: "requires_capture", pending_action: null, amount_capturable: 1000n });
    expect(p.failure_code).toBeTruthy();
    expect(await eventsOf(id)).toEqual(["payment.requires_capture"]);
  },
  "capture requires_capture+capture set_aside": async () => {
    const { id } = await poisonedCapture();
    expect(await payment(id)).toMatchObject({ status: "requires_capture", pending_action: "capture" });
    expect(await operationsOf(id)).toEqual(["capture:failed"]);
    expect(await eventsOf(id)).toEqual(["payment.requires_capture"]);
  },
  "capture requires_capture+capture resolved": async () => {
    const { id } = await poisonedCapture();
    await resolve(id);
    expect(await payment(id)).toMatchObject({
      status: "requires_capture",
      pending_action: null,
      amount_capturable: 1000n,
    });
    expect(await operationsOf(id)).toEqual(["capture:resolved"]);
    expect(await eventsOf(id)).toEqual(["payment.requires_capture"]);
  },
  "cancel requires_capture+cancel posted": async () => {
    const { payer, id } = await authorized();
    await action(payer, id, "cancel");
    await drain();
    expect(await payment(id)).toMatchObject({
      status: "canceled",
      amount_capturable: 0n,
      failure_code: null,
    });
    expect(await eventsOf(id)).toEqual(["payment.requires_capture", "payment.canceled"]);
  },
  "cancel requires_capture+cancel set_aside": async () => {
    const { id } = await poisonedRelease("cancel");
    expect(await payment(id)).toMatchObject({ status: "requires_capture", pending_action: "cancel" });
    expect(await operationsOf(id)).toEqual(["cancel:failed"]);
  },
  "cancel requires_capture+cancel resolved": async () => {
    const { id } = await poisonedRelease("cancel");
    await resolve(id);
    expect(await payment(id)).toMatchObject({ status: "requires_capture", pending_action: null });
    expect(await operationsOf(id)).toEqual(["cancel:resolved"]);
  },
  "expire requires_capture+expire posted": async () => {
    const { id } = await authorized();
    await expireNow(id);
    await drain();
    expect(await payment(id)).toMatchObject({ status: "canceled", failure_code: "hold_expired" });
    expect(await eventsOf(id)).toEqual(["payment.requires_capture", "payment.canceled"]);
  },
  "expire requires_capture+expire set_aside": async () => {
    const { id } = await poisonedRelease("expire");
    expect(await payment(id)).toMatchObject({ status: "requires_capture", pending_action: "expire" });
    expect(await operationsOf(id)).toEqual(["expire:failed"]);
  },
  "expire requires_capture+expire resolved": async () => {
    const { id } = await poisonedRelease("expire");
    await resolve(id);
    expect(await payment(id)).toMatchObject({ status: "requires_capture", pending_action: null });
    expect(await operationsOf(id)).toEqual(["expire:resolved"]);
    expect(await eventsOf(id)).toEqual(["payment.requires_capture"]);
  },
  "refund succeeded posted": async () => {
    const { payee, id } = await succeeded();
    const re = await refund(payee, id);
    await drain();
    expect(await refundRow(re)).toMatchObject({ status: "succeeded", failure_code: null });
    expect(await payment(id)).toMatchObject({ status: "succeeded", amount_refunded: 400n });
    expect(await eventsOf(id)).toEqual(["payment.succeeded", "refund.succeeded"]);
  },
  "refund succeeded declined": async () => {
    const { payee, id } = await succeeded();
    // Two refunds that each passed acceptance and together exceed the payment: the later is declined.
    const first = await refund(payee, id, "6.00");
    await t.services.sql`
      insert into refunds (id, payment_id, amount, currency, created_by)
      values ('re_STATE_DECLINED_' || ${id.slice(-8)}, ${id}, 600, 'USD', ${payee.id})`;
    await t.services.sql`
      insert into operations (id, order_key, kind, payment_id, refund_id, amount)
      select 'op_STATE_DECLINED_' || ${id.slice(-8)}, order_key, 'refund', payment_id, ${`re_STATE_DECLINED_${id.slice(-8)}`}, 600
        from operations where refund_id = ${first}`;
    await drain();
    expect(await refundRow(first)).toMatchObject({ status: "succeeded" });
    expect(await refundRow(`re_STATE_DECLINED_${id.slice(-8)}`)).toMatchObject({
      status: "failed",
      failure_code: "refund_exceeds_payment",
    });
    expect(await payment(id)).toMatchObject({ amount_refunded: 600n });
    expect(await eventsOf(id)).toEqual(["payment.succeeded", "refund.succeeded", "refund.failed"]);
  },
  "refund succeeded set_aside": async () => {
    const { id, re } = await poisonedRefund();
    expect(await refundRow(re)).toMatchObject({ status: "pending", failure_code: null });
    expect(await payment(id)).toMatchObject({ status: "succeeded", amount_refunded: 0n });
    expect(await eventsOf(id)).toEqual(["payment.succeeded"]);
  },
  "refund succeeded resolved": async () => {
    const { id, re } = await poisonedRefund();
    await resolve(id);
    expect(await refundRow(re)).toMatchObject({ status: "failed", failure_code: "processing_error" });
    expect(await payment(id)).toMatchObject({ status: "succeeded", amount_refunded: 0n });
    expect(await eventsOf(id)).toEqual(["payment.succeeded", "refund.failed"]);
  },
};

describe("the payment state table", () => {
  it("has a scenario for every row, and every row is a distinct state and outcome", () => {
    expect(Object.keys(scenarios).sort()).toEqual(TRANSITIONS.map(keyOf).sort());
  });

  for (const [name, run] of Object.entries(scenarios)) {
    it(`reaches ${name} through the API and the engine`, run);
  }

  it("refuses illegal transitions and never changes the rows it is given", async () => {
    const { id } = await authorized();
    const held = await payment(id);
    const copy = structuredClone(held);
    const input = { now: new Date(), transactionId: null, amount: 100n, failure: null, holdTtlSeconds: 60 };
    // No capture was accepted: a capture operation has nothing it may do.
    expect(() => applyTransition("capture", held, null, "posted", input)).toThrow(IllegalTransitionError);
    // A held payment is not new, and cannot be refunded.
    expect(() => applyTransition("payment", held, null, "posted", input)).toThrow(IllegalTransitionError);
    expect(() => applyTransition("refund", held, null, "posted", input)).toThrow(IllegalTransitionError);
    // A release cannot be declined.
    const canceling = { ...held, pending_action: "cancel" as const };
    expect(() => applyTransition("cancel", canceling, null, "declined", input)).toThrow(
      IllegalTransitionError,
    );
    // A refund transition needs its pending refund.
    const done = { ...held, status: "succeeded" as const, pending_action: null };
    expect(() => applyTransition("refund", done, null, "posted", input)).toThrow(/not pending/);
    expect(held).toEqual(copy);
    const applied = applyTransition("cancel", canceling, null, "posted", input);
    expect(applied.payment.status).toBe("canceled");
    expect(canceling.status).toBe("requires_capture");
  });

  it("an operation the payment's state no longer allows changes nothing and leaves the outbox", async () => {
    const { id } = await succeeded();
    const before = await payment(id);
    await t.services.sql`
      insert into operations (id, order_key, kind, payment_id, amount)
      values (${`op_STALE_${id.slice(-12)}`}, ${accountOrderKey(before.from_account)}, 'capture', ${id}, 100)`;
    expect(await operationsOf(id)).toEqual(["capture:pending"]);
    await drain();
    expect(await payment(id)).toEqual(before);
    expect(await operationsOf(id)).toEqual([]);
  });

  it("the database, the API and the events agree with the table's lists", async () => {
    const checks = await t.services.sql<{ name: string; def: string }[]>`
      select conname as name, pg_get_constraintdef(oid) as def from pg_constraint
       where conrelid in ('payments'::regclass, 'refunds'::regclass, 'operations'::regclass) and contype = 'c'`;
    const listIn = (name: string) => {
      const def = checks.find((c) => c.name === name)?.def ?? "";
      return [...def.matchAll(/'([a-z_]+)'::text/g)].map((m) => m[1]).sort();
    };
    expect(listIn("payments_status_check")).toEqual([...PAYMENT_STATUSES].sort());
    expect(listIn("refunds_status_check")).toEqual([...REFUND_STATUSES].sort());
    expect(listIn("operations_kind_check")).toEqual([...OPERATION_KINDS].sort());
    expect(listIn("operations_status_check")).toEqual([...OPERATION_STATUSES].sort());
    const doc = (await t.request("GET", "/openapi.json")).body;
    expect(doc.components.schemas.Payment.properties.status.enum).toEqual([...PAYMENT_STATUSES]);
    for (const row of TRANSITIONS) {
      if (row.event) expect(EVENT_TYPES).toContain(row.event);
      expect(PAYMENT_STATUSES).toContain(row.to);
    }
  });
});

// The payout table: one scenario per row, through the API and the engine, like the payments'.
const payoutKeyOf = (r: Pick<PayoutTransition, "from" | "on">) => `payout ${r.from} ${r.on}`;
async function payoutRow(id: string) {
  const [row] = await t.services.sql<PayoutRow[]>`select * from payouts where id = ${id}`;
  return row!;
}
async function payoutEvents(id: string) {
  const rows = await t.services.sql<{ type: string }[]>`
    select type from events where payout_id = ${id} order by created_at, id`;
  return rows.map((r) => r.type);
}
async function newPayout(balance = 10_000n) {
  const owner = await makeUser(t.services, { balance });
  const res = await t.request("POST", "/api/v1/payouts", {
    token: owner.token,
    body: {
      from_account: owner.account.account_number,
      amount: "10.00",
      currency: "USD",
      destination: { type: "bank_account", account_holder: "Ada", iban: "GB82WEST12345698765432" },
    },
    headers: { "Idempotency-Key": key() },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.id as string;
}
async function inTransitPayout() {
  const id = await newPayout();
  await drain();
  expect((await payoutRow(id)).status).toBe("in_transit");
  return id;
}
/** A payout whose posting cannot balance (its currency changed under it), drained: set aside. */
async function poisonedPayout() {
  await foreignAccount(); // makes the EUR system accounts
  const id = await newPayout();
  await t.services.sql`update payouts set currency = 'EUR' where id = ${id}`;
  await drain();
  return id;
}
async function settlePayout(id: string, verb: "mark-paid" | "mark-failed") {
  const res = await t.request("POST", `/api/v1/payouts/${id}/${verb}`, {
    token: admin.token,
    body: verb === "mark-failed" ? { reason: "returned by the bank" } : {},
    headers: { "Idempotency-Key": key() },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
}

const payoutScenarios: Record<string, () => Promise<void>> = {
  "payout pending posted": async () => {
    const id = await inTransitPayout();
    expect((await payoutRow(id)).transaction_id).toMatch(/^tx_/);
    expect(await payoutEvents(id)).toEqual(["payout.in_transit"]);
  },
  "payout pending declined": async () => {
    const id = await newPayout(500n);
    await drain();
    expect(await payoutRow(id)).toMatchObject({ status: "failed", failure_code: "insufficient_funds" });
    expect(await payoutEvents(id)).toEqual(["payout.failed"]);
  },
  "payout pending set_aside": async () => {
    const id = await poisonedPayout();
    expect(await payoutRow(id)).toMatchObject({ status: "pending", transaction_id: null });
    const [op] = await t.services.sql<
      { status: string }[]
    >`select status from operations where payout_id = ${id}`;
    expect(op!.status).toBe("failed");
    expect(await payoutEvents(id)).toEqual([]);
  },
  "payout pending resolved": async () => {
    const id = await poisonedPayout();
    const [op] = await t.services.sql<{ id: string }[]>`select id from operations where payout_id = ${id}`;
    const res = await t.request("POST", `/api/v1/ops/operations/${op!.id}/resolve`, {
      token: admin.token,
      body: { reason: "closed by ops in a test" },
      headers: { "Idempotency-Key": key() },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ status: "resolved", payout_id: id, payment_id: null });
    expect(await payoutRow(id)).toMatchObject({ status: "failed", failure_code: "processing_error" });
    expect(await payoutEvents(id)).toEqual(["payout.failed"]);
  },
  "payout in_transit mark_paid": async () => {
    const id = await inTransitPayout();
    await settlePayout(id, "mark-paid");
    expect(await payoutRow(id)).toMatchObject({
      status: "paid",
      settle_transaction_id: expect.stringMatching(/^tx_/),
    });
    expect(await payoutEvents(id)).toEqual(["payout.in_transit", "payout.paid"]);
  },
  "payout in_transit mark_failed": async () => {
    const id = await inTransitPayout();
    await settlePayout(id, "mark-failed");
    expect(await payoutRow(id)).toMatchObject({
      status: "failed",
      failure_code: "payout_failed",
      failure_message: "returned by the bank",
    });
    expect(await payoutEvents(id)).toEqual(["payout.in_transit", "payout.failed"]);
  },
};

describe("the payout state table", () => {
  it("has a scenario for every row, and every row is a distinct state and trigger", () => {
    expect(Object.keys(payoutScenarios).sort()).toEqual(PAYOUT_TRANSITIONS.map(payoutKeyOf).sort());
  });

  for (const [name, run] of Object.entries(payoutScenarios)) {
    it(`reaches ${name} through the API and the engine`, run);
  }

  it("refuses illegal transitions and never changes the row it is given", async () => {
    const id = await inTransitPayout();
    const row = await payoutRow(id);
    const copy = structuredClone(row);
    const input = { now: new Date(), transactionId: null, amount: null, failure: null, holdTtlSeconds: 0 };
    expect(() => applyPayoutTransition(row, "posted", input)).toThrow(IllegalTransitionError);
    const paid = applyPayoutTransition(row, "mark_paid", input).payout;
    expect(() => applyPayoutTransition(paid, "mark_failed", input)).toThrow(IllegalTransitionError);
    expect(() => applyPayoutTransition({ ...row, status: "pending" }, "mark_paid", input)).toThrow(
      IllegalTransitionError,
    );
    expect(row).toEqual(copy);
  });

  it("the database, the API and the events agree with the payout lists", async () => {
    const [check] = await t.services.sql<{ def: string }[]>`
      select pg_get_constraintdef(oid) as def from pg_constraint where conname = 'payouts_status_check'`;
    expect([...(check?.def ?? "").matchAll(/'([a-z_]+)'::text/g)].map((m) => m[1]).sort()).toEqual(
      [...PAYOUT_STATUSES].sort(),
    );
    const doc = (await t.request("GET", "/openapi.json")).body;
    expect(doc.components.schemas.Payout.properties.status.enum).toEqual([...PAYOUT_STATUSES]);
    for (const row of PAYOUT_TRANSITIONS) {
      if (row.event) expect(EVENT_TYPES).toContain(row.event);
      expect(PAYOUT_STATUSES).toContain(row.to);
    }
  });
});
