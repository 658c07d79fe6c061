import { describe, expect, it } from "vitest";
import { makeUser, useApp } from "./support/app.ts";
import { expectLedgerHealthy } from "./support/db.ts";
import { balanceOf, key, pay, settled, useWorkers } from "./support/payments.ts";
import { waitFor } from "./support/wait.ts";

const t = await useApp();
await useWorkers(t.services);

describe("payments, transfers and deposits", () => {
  it("accepts a payment as pending at once and posts it", async () => {
    const alice = await makeUser(t.services, { balance: 10_000n });
    const bob = await makeUser(t.services);
    const res = await pay(t, alice, {
      from_account: alice.account.account_number,
      to_account: bob.account.account_number,
      amount: "25.50",
      currency: "USD",
      description: "coffee beans",
      metadata: { order: "42" },
    });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({
      object: "payment",
      type: "payment",
      status: "pending",
      amount: "25.50",
      currency: "USD",
      capture_method: "automatic",
      amount_captured: "0.00",
      metadata: { order: "42" },
      completed_at: null,
    });
    expect(res.body.id).toMatch(/^pay_/);
    await settled(t.services, [res.body.id]);
    const got = await t.request("GET", `/api/v1/payments/${res.body.id}`, { token: bob.token });
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ status: "succeeded", amount_captured: "25.50" });
    expect(got.body.transaction_id).toMatch(/^tx_/);
    expect(got.body.completed_at).toMatch(/\.\d{3}Z$/);
    expect(await balanceOf(t.services, alice.account.account_number)).toBe(10_000n - 2550n);
    expect(await balanceOf(t.services, bob.account.account_number)).toBe(2550n);
    const [evt] = await t.services
      .sql`select type, user_ids, data from events where payment_id = ${res.body.id}`;
    expect(evt?.type).toBe("payment.succeeded");
    expect(new Set(evt?.user_ids)).toEqual(new Set([alice.id, bob.id]));
    expect(evt?.data.object.status).toBe("succeeded");
    await expectLedgerHealthy(t.services.sql);
  });

  it("accepts JSON numbers read exactly from their text", async () => {
    const alice = await makeUser(t.services, { currency: "KWD", balance: 100_000n });
    const bob = await makeUser(t.services, { currency: "KWD" });
    const res = await t.request("POST", "/api/v1/payments", {
      token: alice.token,
      headers: { "Idempotency-Key": key(), "content-type": "application/json" },
      rawBody: `{"from_account":"${alice.account.account_number}","to_account":"${bob.account.account_number}","amount":12.345,"currency":"KWD"}`,
    });
    expect(res.status).toBe(202);
    expect(res.body.amount).toBe("12.345");
    const tooPrecise = await t.request("POST", "/api/v1/payments", {
      token: alice.token,
      headers: { "Idempotency-Key": key(), "content-type": "application/json" },
      rawBody: `{"from_account":"${alice.account.account_number}","to_account":"${bob.account.account_number}","amount":1.0000000000000001,"currency":"KWD"}`,
    });
    expect(tooPrecise.status).toBe(422);
    expect(tooPrecise.body.errors[0].pointer).toBe("/amount");
  });

  it("declines for insufficient funds as an outcome, not an error", async () => {
    const alice = await makeUser(t.services, { balance: 100n });
    const bob = await makeUser(t.services);
    const res = await pay(t, alice, {
      from_account: alice.account.account_number,
      to_account: bob.account.account_number,
      amount: "5.00",
      currency: "USD",
    });
    expect(res.status).toBe(202);
    const [row] = await settled(t.services, [res.body.id]);
    expect(row).toMatchObject({ status: "failed", failure_code: "insufficient_funds" });
    const got = await t.request("GET", `/api/v1/payments/${res.body.id}`, { token: alice.token });
    expect(got.body.failure_message).toMatch(/insufficient/i);
    expect(got.body.completed_at).not.toBeNull();
    const [evt] = await t.services.sql`select type from events where payment_id = ${res.body.id}`;
    expect(evt?.type).toBe("payment.failed");
    expect(await balanceOf(t.services, alice.account.account_number)).toBe(100n);
  });

  it("transfers P2P by email and by account number, and via the /transfer alias", async () => {
    const alice = await makeUser(t.services, { balance: 5_000n });
    const bob = await makeUser(t.services);
    const byEmail = await t.request("POST", "/api/v1/transfers", {
      token: alice.token,
      headers: { "Idempotency-Key": key() },
      body: { to: bob.email.toUpperCase(), amount: "10.00", currency: "USD" },
    });
    expect(byEmail.status).toBe(202);
    expect(byEmail.body).toMatchObject({
      type: "transfer",
      from_account: alice.account.account_number,
      to_account: bob.account.account_number,
    });
    const alias = await t.request("POST", "/api/v1/transfer", {
      token: alice.token,
      body: { to: bob.account.account_number, amount: 5, currency: "USD", idempotency_key: key() },
    });
    expect(alias.status).toBe(202);
    await settled(t.services, [byEmail.body.id, alias.body.id]);
    expect(await balanceOf(t.services, bob.account.account_number)).toBe(1_500n);
  });

  it("lets an admin deposit from the external funding account", async () => {
    const admin = await makeUser(t.services, { role: "admin" });
    const carol = await makeUser(t.services, { currency: "JPY" });
    const res = await t.request("POST", "/api/v1/deposits", {
      token: admin.token,
      headers: { "Idempotency-Key": key() },
      body: { account_number: carol.account.account_number, amount: "5000", currency: "JPY" },
    });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ type: "deposit", from_account: "SYS_EXTERNAL_JPY", amount: "5000" });
    await settled(t.services, [res.body.id]);
    expect(await balanceOf(t.services, carol.account.account_number)).toBe(5000n);
    await expectLedgerHealthy(t.services.sql);
  });

  it("lists the caller's payments newest first with cursor pagination and filters", async () => {
    const alice = await makeUser(t.services, { balance: 10_000n });
    const bob = await makeUser(t.services);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await pay(t, alice, {
        from_account: alice.account.account_number,
        to_account: bob.account.account_number,
        amount: "1.00",
        currency: "USD",
      });
      ids.push(r.body.id);
    }
    const page1 = await t.request("GET", "/api/v1/payments?limit=2", { token: bob.token });
    expect(page1.status).toBe(200);
    expect(page1.body.data.map((p: any) => p.id)).toEqual([ids[4], ids[3]]);
    expect(page1.body.has_more).toBe(true);
    const page2 = await t.request("GET", `/api/v1/payments?limit=10&cursor=${page1.body.next_cursor}`, {
      token: bob.token,
    });
    expect(page2.body.data.map((p: any) => p.id)).toEqual([ids[2], ids[1], ids[0]]);
    expect(page2.body).toMatchObject({ has_more: false, next_cursor: null });
    await settled(t.services, ids);
    const succeeded = await t.request(
      "GET",
      `/api/v1/payments?status=succeeded&account=${bob.account.account_number}`,
      {
        token: bob.token,
      },
    );
    expect(succeeded.body.data).toHaveLength(5);
    const stranger = await makeUser(t.services);
    const none = await t.request("GET", "/api/v1/payments", { token: stranger.token });
    expect(none.body.data).toEqual([]);
    const ops = await makeUser(t.services, { role: "ops" });
    const all = await t.request("GET", `/api/v1/payments?account=${alice.account.account_number}`, {
      token: ops.token,
    });
    expect(all.body.data).toHaveLength(5);
  });

  it("posts payments from one account in acceptance order", async () => {
    const alice = await makeUser(t.services, { balance: 1_000_000n });
    const bob = await makeUser(t.services);
    const ids: string[] = [];
    for (let i = 1; i <= 30; i++) {
      const r = await pay(t, alice, {
        from_account: alice.account.account_number,
        to_account: bob.account.account_number,
        amount: `${i}.00`,
        currency: "USD",
      });
      ids.push(r.body.id);
    }
    await settled(t.services, ids);
    const entries = await t.services.sql<{ payment_id: string }[]>`
      select t.payment_id from ledger_entries e join transactions t on t.id = e.transaction_id
       where e.account_number = ${alice.account.account_number} and e.direction = 'DEBIT' order by e.id`;
    expect(entries.map((e) => e.payment_id)).toEqual(ids);
  });

  it("exposes the ledger check to ops", async () => {
    const ops = await makeUser(t.services, { role: "ops" });
    const res = await waitFor(async () => {
      const r = await t.request("GET", "/api/v1/ops/ledger/verify", { token: ops.token });
      return r.status === 200 ? r : null;
    });
    expect(res.body.ok).toBe(true);
    expect(res.body.trial_balance.every((t: any) => t.net === "0" || /^0(\.0+)?$/.test(t.net))).toBe(true);
    expect(res.body.mismatched_accounts).toEqual([]);
  });
});
