import { describe, expect, it } from "vitest";
import { systemAccountNumber } from "../shared/ledger/index.ts";
import { drainPartition } from "../shared/payments/posting.ts";
import { isValidIban, isValidRoutingNumber } from "../shared/payouts/destination.ts";
import { makeUser, type TestUser, useApp } from "./support/app.ts";
import { expectFieldError, expectProblem } from "./support/auth.ts";
import { expectLedgerHealthy } from "./support/db.ts";
import { isolatedEnv } from "./support/isolated.ts";
import { balanceOf, key } from "./support/payments.ts";

// Its own database and no workers: the posting engine is driven by hand (one partition).
const t = await useApp(await isolatedEnv("payouts"));
const drain = () => drainPartition(t.services, 0);

const IBAN = "DE89 3704 0044 0532 0130 00";
const admin = await makeUser(t.services, { role: "admin" });
const ops = await makeUser(t.services, { role: "ops" });
const inTransit = systemAccountNumber("payouts_in_transit", "USD");

function payoutBody(user: TestUser, extra: Record<string, unknown> = {}) {
  return {
    from_account: user.account.account_number,
    amount: "25.00",
    currency: "USD",
    destination: { type: "bank_account", account_holder: "Ada Lovelace", iban: IBAN },
    ...extra,
  };
}
function createPayout(user: TestUser, body: unknown, idempotencyKey = key()) {
  return t.request("POST", "/api/v1/payouts", {
    token: user.token,
    body,
    headers: { "Idempotency-Key": idempotencyKey },
  });
}
function settle(user: TestUser, id: string, verb: "mark-paid" | "mark-failed", idempotencyKey = key()) {
  return t.request("POST", `/api/v1/payouts/${id}/${verb}`, {
    token: user.token,
    body: verb === "mark-failed" ? { reason: "bank returned: account closed" } : {},
    headers: { "Idempotency-Key": idempotencyKey },
  });
}
async function inTransitPayout(balance = 10_000n) {
  const user = await makeUser(t.services, { balance });
  const res = await createPayout(user, payoutBody(user));
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  await drain();
  return { user, id: res.body.id as string };
}
async function eventsOf(id: string) {
  const rows = await t.services.sql<{ type: string; user_ids: string[] }[]>`
    select type, user_ids from events where payout_id = ${id} order by created_at, id`;
  return rows;
}
async function auditOf(id: string) {
  const rows = await t.services.sql<{ action: string; actor_id: string }[]>`
    select action, actor_id from audit_log where target_type = 'payout' and target_id = ${id} order by seq`;
  return rows.map((r) => `${r.action}:${r.actor_id}`);
}

describe("payouts", () => {
  it("are accepted pending, posted into the in-transit account, and the owner sees them masked", async () => {
    const user = await makeUser(t.services, { balance: 10_000n });
    const transitBefore = await balanceOf(t.services, inTransit);
    const res = await createPayout(user, payoutBody(user, { description: "weekly payout" }));
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body).toMatchObject({
      object: "payout",
      status: "pending",
      amount: "25.00",
      currency: "USD",
      description: "weekly payout",
      destination: { type: "bank_account", account_holder: "Ada Lovelace", country: "DE", last4: "3000" },
      transaction_id: null,
    });
    expect(res.body.id).toMatch(/^po_/);
    expect(JSON.stringify(res.body)).not.toContain("0532013000");
    const id = res.body.id as string;

    await drain();
    const got = await t.request("GET", `/api/v1/payouts/${id}`, { token: user.token });
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ status: "in_transit", transaction_id: expect.stringMatching(/^tx_/) });
    expect(await balanceOf(t.services, user.account.account_number)).toBe(7_500n);
    expect(await balanceOf(t.services, inTransit)).toBe(transitBefore + 2_500n);
    expect(await eventsOf(id)).toEqual([{ type: "payout.in_transit", user_ids: [user.id] }]);
    const events = await t.request("GET", "/api/v1/events?type=payout.in_transit", { token: user.token });
    expect(events.body.data.map((e: { data: { object: { id: string } } }) => e.data.object.id)).toEqual([id]);
    expect(await auditOf(id)).toEqual([`payout.create:${user.id}`]);

    const list = await t.request("GET", "/api/v1/payouts", { token: user.token });
    expect(list.body.data.map((p: { id: string }) => p.id)).toEqual([id]);
  });

  it("insufficient funds: the payout fails with the code, nothing moves", async () => {
    const user = await makeUser(t.services, { balance: 1_000n });
    const res = await createPayout(user, payoutBody(user));
    expect(res.status).toBe(202);
    await drain();
    const got = await t.request("GET", `/api/v1/payouts/${res.body.id}`, { token: user.token });
    expect(got.body).toMatchObject({
      status: "failed",
      failure_code: "insufficient_funds",
      transaction_id: null,
    });
    expect(got.body.completed_at).not.toBeNull();
    expect(await balanceOf(t.services, user.account.account_number)).toBe(1_000n);
    expect((await eventsOf(res.body.id)).map((e) => e.type)).toEqual(["payout.failed"]);
  });

  it("mark-paid: in transit -> paid, the money leaves to external; idempotent, and a second one is 409", async () => {
    const { user, id } = await inTransitPayout();
    const transitBefore = await balanceOf(t.services, inTransit);
    const externalBefore = await balanceOf(t.services, systemAccountNumber("external", "USD"));
    const k = key();
    const paid = await settle(ops, id, "mark-paid", k);
    expect(paid.status, JSON.stringify(paid.body)).toBe(200);
    expect(paid.body).toMatchObject({ status: "paid", settle_transaction_id: expect.stringMatching(/^tx_/) });
    expect(paid.body.completed_at).not.toBeNull();

    const replay = await settle(ops, id, "mark-paid", k);
    expect(replay.status).toBe(200);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(replay.body).toEqual(paid.body);

    expectProblem(await settle(ops, id, "mark-paid"), 409, "payout_not_in_transit");
    expectProblem(await settle(admin, id, "mark-failed"), 409, "payout_not_in_transit");

    expect(await balanceOf(t.services, inTransit)).toBe(transitBefore - 2_500n);
    expect(await balanceOf(t.services, systemAccountNumber("external", "USD"))).toBe(externalBefore + 2_500n);
    expect(await balanceOf(t.services, user.account.account_number)).toBe(7_500n);
    expect((await eventsOf(id)).map((e) => e.type)).toEqual(["payout.in_transit", "payout.paid"]);
    expect(await auditOf(id)).toEqual([`payout.create:${user.id}`, `payout.mark_paid:${ops.id}`]);
  });

  it("mark-failed: in transit -> failed with the reason, the money goes back to the account", async () => {
    const { user, id } = await inTransitPayout();
    const failed = await settle(admin, id, "mark-failed");
    expect(failed.status, JSON.stringify(failed.body)).toBe(200);
    expect(failed.body).toMatchObject({
      status: "failed",
      failure_code: "payout_failed",
      failure_message: "bank returned: account closed",
    });
    expect(await balanceOf(t.services, user.account.account_number)).toBe(10_000n);
    expect((await eventsOf(id)).map((e) => e.type)).toEqual(["payout.in_transit", "payout.failed"]);
    expect(await auditOf(id)).toEqual([`payout.create:${user.id}`, `payout.mark_failed:${admin.id}`]);
    const [row] = await t.services.sql<{ after: { reason: string } }[]>`
      select after from audit_log where target_id = ${id} and action = 'payout.mark_failed'`;
    expect(row!.after.reason).toBe("bank returned: account closed");
    expectProblem(await settle(ops, id, "mark-paid"), 409, "payout_not_in_transit");
  });

  it("a pending payout cannot be settled yet", async () => {
    const user = await makeUser(t.services, { balance: 10_000n });
    const res = await createPayout(user, payoutBody(user));
    expectProblem(await settle(ops, res.body.id, "mark-paid"), 409, "payout_not_in_transit");
    await drain();
  });

  it("roles: the owner or an admin creates; ops or admin settle; strangers see nothing", async () => {
    const { user, id } = await inTransitPayout();
    const stranger = await makeUser(t.services, { balance: 10_000n });
    expectProblem(await settle(user, id, "mark-paid"), 403);
    expectProblem(await settle(stranger, id, "mark-failed"), 403);
    expectProblem(
      await t.request("GET", `/api/v1/payouts/${id}`, { token: stranger.token }),
      404,
      "payout_not_found",
    );
    expectProblem(await t.request("GET", `/api/v1/payouts/${id}`), 401);
    const strangerList = await t.request("GET", "/api/v1/payouts", { token: stranger.token });
    expect(strangerList.body.data).toEqual([]);
    expect((await t.request("GET", `/api/v1/payouts/${id}`, { token: ops.token })).status).toBe(200);
    const opsList = await t.request("GET", "/api/v1/payouts?status=in_transit&limit=100", {
      token: ops.token,
    });
    expect(opsList.body.data.map((p: { id: string }) => p.id)).toContain(id);
    // Someone else's account: as if it did not exist. An admin may pay out from any account.
    expectProblem(await createPayout(stranger, payoutBody(user)), 404, "account_not_found");
    expect((await createPayout(admin, payoutBody(user))).status).toBe(202);
    expectProblem(await settle(ops, "po_DOESNOTEXIST0000000000000", "mark-paid"), 404, "payout_not_found");
    await drain();
  });

  it("replays a creation with the same key, refuses a reused key and a missing one", async () => {
    const user = await makeUser(t.services, { balance: 10_000n });
    const k = key();
    const first = await createPayout(user, payoutBody(user), k);
    const again = await createPayout(user, payoutBody(user), k);
    expect(again.status).toBe(202);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.body).toEqual(first.body);
    expectProblem(
      await createPayout(user, payoutBody(user, { amount: "1.00" }), k),
      422,
      "idempotency_key_reused",
    );
    const noKey = await t.request("POST", "/api/v1/payouts", { token: user.token, body: payoutBody(user) });
    expectProblem(noKey, 400, "idempotency_key_required");
    const [n] = await t.services.sql<{ n: number }[]>`
      select count(*)::int as n from payouts where from_account = ${user.account.account_number}`;
    expect(n!.n).toBe(1);
    await drain();
  });

  it("validates the destination (IBAN mod-97, US routing checksum) and the amount", async () => {
    const user = await makeUser(t.services, { balance: 10_000n });
    const dest = (d: Record<string, unknown>) =>
      payoutBody(user, { destination: { type: "bank_account", account_holder: "Ada", ...d } });
    expectFieldError(await createPayout(user, dest({ iban: "DE89370400440532013001" })), "/destination/iban");
    expectFieldError(await createPayout(user, dest({ iban: "not an iban" })), "/destination/iban");
    expectFieldError(
      await createPayout(user, dest({ routing_number: "110000001", account_number: "000123456789" })),
      "/destination/routing_number",
    );
    expectFieldError(
      await createPayout(user, dest({ routing_number: "110000000", account_number: "12" })),
      "/destination/account_number",
    );
    expectFieldError(
      await createPayout(
        user,
        dest({ iban: IBAN, routing_number: "110000000", account_number: "000123456789" }),
      ),
      "/destination/iban",
    );
    expectFieldError(await createPayout(user, dest({})), "/destination/iban");
    expectProblem(await createPayout(user, payoutBody(user, { amount: "0" })), 422);
    expectProblem(await createPayout(user, payoutBody(user, { currency: "EUR" })), 422, "currency_mismatch");
    expectProblem(await createPayout(user, { ...dest({ iban: IBAN }), destination: { type: "card" } }), 422);

    const us = await createPayout(
      user,
      dest({ routing_number: "021000021", account_number: "000123456789" }),
    );
    expect(us.status, JSON.stringify(us.body)).toBe(202);
    expect(us.body.destination).toEqual({
      type: "bank_account",
      account_holder: "Ada",
      country: "US",
      routing_number: "021000021",
      last4: "6789",
    });
    const [stored] = await t.services.sql<{ destination: unknown }[]>`
      select destination from payouts where id = ${us.body.id}`;
    expect(stored!.destination).toEqual({
      type: "bank_account",
      account_holder: "Ada",
      routing_number: "021000021",
      account_number: "000123456789",
    });
    expect(isValidIban("GB82WEST12345698765432")).toBe(true);
    expect(isValidIban("GB82WEST12345698765433")).toBe(false);
    expect(isValidRoutingNumber("011000015")).toBe(true);
    await drain();
  });

  it("payout events are event types webhook endpoints can subscribe to", async () => {
    const doc = (await t.request("GET", "/openapi.json")).body;
    // Every event-type enum of the document (the endpoints' filter, the event's type) lists them.
    const enums: string[][] = [];
    JSON.stringify(doc, (k, v) => {
      if (k === "enum" && Array.isArray(v) && v.includes("payment.succeeded")) enums.push(v);
      return v;
    });
    expect(enums.length).toBeGreaterThan(0);
    for (const e of enums)
      expect(e).toEqual(expect.arrayContaining(["payout.in_transit", "payout.paid", "payout.failed"]));
  });

  it("keeps per-account order: a payout accepted after a payment is posted after it", async () => {
    const user = await makeUser(t.services, { balance: 3_000n });
    const payee = await makeUser(t.services, { role: "merchant" });
    const pay = await t.request("POST", "/api/v1/payments", {
      token: user.token,
      body: {
        from_account: user.account.account_number,
        to_account: payee.account.account_number,
        amount: "10.00",
        currency: "USD",
      },
      headers: { "Idempotency-Key": key() },
    });
    expect(pay.status).toBe(202);
    const po = await createPayout(user, payoutBody(user));
    await drain();
    // 30.00 - 10.00 leaves 20.00: the 25.00 payout is declined because the payment went first.
    const got = await t.request("GET", `/api/v1/payouts/${po.body.id}`, { token: user.token });
    expect(got.body).toMatchObject({ status: "failed", failure_code: "insufficient_funds" });
  });

  it("leaves the ledger healthy, with the in-transit account holding exactly the payouts in transit", async () => {
    await drain();
    const [row] = await t.services.sql<{ total: bigint }[]>`
      select coalesce(sum(amount), 0)::bigint as total from payouts where status = 'in_transit' and currency = 'USD'`;
    expect(await balanceOf(t.services, inTransit)).toBe(row!.total);
    await expectLedgerHealthy(t.services.sql);
  });
});
