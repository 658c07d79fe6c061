import { afterEach, describe, expect, it } from "vitest";
import { systemAccountNumber } from "../shared/ledger/index.ts";
import { makeUser, type TestApp, type TestUser, useApp } from "./support/app.ts";
import { expectLedgerHealthy } from "./support/db.ts";
import { isolatedEnv } from "./support/isolated.ts";
import { key, pay, settled, useWorkers } from "./support/payments.ts";
import { waitFor } from "./support/wait.ts";

const t = await useApp();
await useWorkers(t.services);
afterEach(() => expectLedgerHealthy(t.services.sql));

async function balances(app: TestApp, user: TestUser) {
  const res = await app.request("GET", `/api/v1/accounts/${user.account.account_number}`, {
    token: user.token,
  });
  expect(res.status).toBe(200);
  return { balance: res.body.balance, available: res.body.available_balance, held: res.body.held_balance };
}

async function holdsBalance(app: TestApp, currency = "USD"): Promise<bigint> {
  const [row] = await app.services.sql<{ balance: bigint }[]>`
    select balance from accounts where account_number = ${systemAccountNumber("holds", currency)}`;
  return row?.balance ?? 0n;
}

async function authorize(app: TestApp, payer: TestUser, payee: TestUser, amount: string) {
  const res = await pay(app, payer, {
    from_account: payer.account.account_number,
    to_account: payee.account.account_number,
    amount,
    currency: "USD",
    capture_method: "manual",
  });
  expect(res.status).toBe(202);
  const [row] = await settled(app.services, [res.body.id]);
  expect(row?.status).toBe("requires_capture");
  return res.body.id as string;
}

async function settledTo(app: TestApp, id: string, statuses: string[]) {
  return waitFor(
    async () => {
      const [row] = await app.services.sql<{ status: string; pending_action: string | null }[]>`
        select status, pending_action from payments where id = ${id}`;
      return row && statuses.includes(row.status) && row.pending_action === null ? row : null;
    },
    { what: `payment ${id} to reach ${statuses.join("/")}` },
  );
}

function capture(
  app: TestApp,
  user: TestUser,
  id: string,
  body: Record<string, unknown> = {},
  k: string | null = key(),
) {
  return app.request("POST", `/api/v1/payments/${id}/capture`, {
    token: user.token,
    body,
    headers: k === null ? {} : { "Idempotency-Key": k },
  });
}

function cancel(app: TestApp, user: TestUser, id: string) {
  return app.request("POST", `/api/v1/payments/${id}/cancel`, {
    token: user.token,
    headers: { "Idempotency-Key": key() },
  });
}

describe("authorize, capture, cancel", () => {
  it("authorize -> partial capture: payer, payee and holds balances are exact at each step", async () => {
    const payer = await makeUser(t.services, { balance: 10_000n });
    const merchant = await makeUser(t.services, { role: "merchant" });
    const holdsBefore = await holdsBalance(t);

    const id = await authorize(t, payer, merchant, "50.00");
    expect(await balances(t, payer)).toEqual({ balance: "100.00", available: "50.00", held: "50.00" });
    expect(await balances(t, merchant)).toEqual({ balance: "0.00", available: "0.00", held: "0.00" });
    expect(await holdsBalance(t)).toBe(holdsBefore + 5_000n);
    const authorized = await t.request("GET", `/api/v1/payments/${id}`, { token: merchant.token });
    expect(authorized.body).toMatchObject({
      status: "requires_capture",
      amount_capturable: "50.00",
      amount_captured: "0.00",
    });
    expect(new Date(authorized.body.hold_expires_at).getTime()).toBeGreaterThan(
      Date.now() + 6 * 24 * 3600 * 1000,
    );
    const [evt] = await t.services.sql`select type from events where payment_id = ${id} order by created_at`;
    expect(evt?.type).toBe("payment.requires_capture");

    const res = await capture(t, merchant, id, { amount: "30.00" });
    expect(res.status).toBe(202);
    await settledTo(t, id, ["succeeded"]);
    expect(await balances(t, payer)).toEqual({ balance: "70.00", available: "70.00", held: "0.00" });
    expect(await balances(t, merchant)).toEqual({ balance: "30.00", available: "30.00", held: "0.00" });
    expect(await holdsBalance(t)).toBe(holdsBefore);
    const done = await t.request("GET", `/api/v1/payments/${id}`, { token: payer.token });
    expect(done.body).toMatchObject({
      status: "succeeded",
      amount_captured: "30.00",
      amount_capturable: "0.00",
    });
    const types = await t.services.sql`select type from events where payment_id = ${id} order by created_at`;
    expect(types.map((e) => e.type)).toEqual(["payment.requires_capture", "payment.succeeded"]);

    // History shows the hold, the capture and the release of the rest as entries of their own.
    const history = await t.request("GET", `/api/v1/accounts/${payer.account.account_number}/history`, {
      token: payer.token,
    });
    expect(history.body.data.slice(0, 2).map((e: any) => [e.direction, e.amount])).toEqual([
      ["CREDIT", "20.00"],
      ["DEBIT", "50.00"],
    ]);
  });

  it("captures everything by default", async () => {
    const payer = await makeUser(t.services, { balance: 10_000n });
    const merchant = await makeUser(t.services, { role: "merchant" });
    const id = await authorize(t, payer, merchant, "12.34");
    expect((await capture(t, merchant, id)).status).toBe(202);
    await settledTo(t, id, ["succeeded"]);
    expect(await balances(t, merchant)).toMatchObject({ available: "12.34" });
    expect(await balances(t, payer)).toEqual({ balance: "87.66", available: "87.66", held: "0.00" });
  });

  it("cancel releases exactly the held amount", async () => {
    const payer = await makeUser(t.services, { balance: 10_000n });
    const merchant = await makeUser(t.services, { role: "merchant" });
    const holdsBefore = await holdsBalance(t);
    const id = await authorize(t, payer, merchant, "40.00");
    expect((await cancel(t, payer, id)).status).toBe(202);
    await settledTo(t, id, ["canceled"]);
    expect(await balances(t, payer)).toEqual({ balance: "100.00", available: "100.00", held: "0.00" });
    expect(await balances(t, merchant)).toMatchObject({ available: "0.00" });
    expect(await holdsBalance(t)).toBe(holdsBefore);
    const [evt] = await t.services
      .sql`select type from events where payment_id = ${id} order by created_at desc limit 1`;
    expect(evt?.type).toBe("payment.canceled");
  });

  it("refuses captures and cancels the state does not allow, with clear codes", async () => {
    const payer = await makeUser(t.services, { balance: 10_000n });
    const merchant = await makeUser(t.services, { role: "merchant" });
    const stranger = await makeUser(t.services);
    const id = await authorize(t, payer, merchant, "10.00");

    expect((await capture(t, merchant, id, { amount: "10.01" })).body.code).toBe("amount_exceeds_capturable");
    expect((await capture(t, merchant, id, { amount: "0" })).body.code).toBe("amount_not_positive");
    expect((await capture(t, payer, id)).status).toBe(403);
    expect((await capture(t, stranger, id)).status).toBe(404);
    expect((await cancel(t, stranger, id)).status).toBe(404);
    expect((await capture(t, merchant, id, {}, null)).status).toBe(400);
    expect((await t.request("POST", `/api/v1/payments/${id}/capture`, { body: {} })).status).toBe(401);
    expect((await capture(t, merchant, "pay_nope")).status).toBe(404);

    expect((await capture(t, merchant, id, { amount: "4.00" })).status).toBe(202);
    const again = await capture(t, merchant, id, { amount: "1.00" });
    expect(again.status).toBe(422);
    expect(again.body.code).toBe("payment_not_capturable");
    const cancelWhileCapturing = await cancel(t, payer, id);
    expect(cancelWhileCapturing.body.code).toBe("payment_not_cancelable");
    await settledTo(t, id, ["succeeded"]);
    expect((await capture(t, merchant, id)).body.code).toBe("payment_not_capturable");
    expect((await cancel(t, merchant, id)).body.code).toBe("payment_not_cancelable");

    const automatic = await pay(t, payer, {
      from_account: payer.account.account_number,
      to_account: merchant.account.account_number,
      amount: "1.00",
      currency: "USD",
    });
    await settled(t.services, [automatic.body.id]);
    expect((await capture(t, merchant, automatic.body.id)).body.code).toBe("payment_not_capturable");

    const canceled = await authorize(t, payer, merchant, "1.00");
    expect((await cancel(t, merchant, canceled)).status).toBe(202);
    await settledTo(t, canceled, ["canceled"]);
    expect((await capture(t, merchant, canceled)).body.code).toBe("payment_not_capturable");
  });

  it("refuses a capture once the hold is past its expiry, even before the workers release it", async () => {
    const payer = await makeUser(t.services, { balance: 10_000n });
    const merchant = await makeUser(t.services, { role: "merchant" });
    const id = await authorize(t, payer, merchant, "5.00");
    await t.services
      .sql`update payments set hold_expires_at = clock_timestamp() - interval '1 second' where id = ${id}`;
    const res = await capture(t, merchant, id);
    expect(res.status).toBe(422);
    expect(res.body.code).toBe("payment_not_capturable");
    await settledTo(t, id, ["canceled"]);
  });

  it("an authorization beyond the payer's funds fails as an outcome", async () => {
    const payer = await makeUser(t.services, { balance: 100n });
    const merchant = await makeUser(t.services, { role: "merchant" });
    const res = await pay(t, payer, {
      from_account: payer.account.account_number,
      to_account: merchant.account.account_number,
      amount: "5.00",
      currency: "USD",
      capture_method: "manual",
    });
    const [row] = await settled(t.services, [res.body.id]);
    expect(row).toMatchObject({ status: "failed", failure_code: "insufficient_funds" });
    expect(await balances(t, payer)).toEqual({ balance: "1.00", available: "1.00", held: "0.00" });
  });
});

describe("races", () => {
  it("100 concurrent captures of one hold: exactly one is accepted and posted", async () => {
    const payer = await makeUser(t.services, { balance: 10_000n });
    const merchant = await makeUser(t.services, { role: "merchant" });
    const id = await authorize(t, payer, merchant, "25.00");
    const results = await Promise.all(
      Array.from({ length: 100 }, () => capture(t, merchant, id, { amount: "25.00" })),
    );
    expect(results.filter((r) => r.status === 202)).toHaveLength(1);
    expect(
      results.filter((r) => r.status === 422).every((r) => r.body.code === "payment_not_capturable"),
    ).toBe(true);
    expect(results.filter((r) => r.status !== 202 && r.status !== 422)).toEqual([]);
    await settledTo(t, id, ["succeeded"]);
    expect(await balances(t, merchant)).toMatchObject({ available: "25.00" });
    const [tx] = await t.services
      .sql`select count(*)::int as n from transactions where payment_id = ${id} and kind = 'capture'`;
    expect(tx?.n).toBe(1);
  });

  it("50 concurrent cancel+capture races: each hold ends in exactly one terminal state, money conserved", async () => {
    const payer = await makeUser(t.services, { balance: 100_000n });
    const merchant = await makeUser(t.services, { role: "merchant" });
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) ids.push(await authorize(t, payer, merchant, "10.00"));
    const results = await Promise.all(
      ids.flatMap((id) =>
        [capture(t, merchant, id), cancel(t, payer, id)].map((p) => p.then((r) => ({ id, r }))),
      ),
    );
    for (const id of ids) {
      const accepted = results.filter((x) => x.id === id && x.r.status === 202);
      expect(accepted).toHaveLength(1);
    }
    const rows = await Promise.all(ids.map((id) => settledTo(t, id, ["succeeded", "canceled"])));
    const captured = rows.filter((r) => r.status === "succeeded").length;
    const payerBalance = await balances(t, payer);
    const merchantBalance = await balances(t, merchant);
    expect(merchantBalance.available).toBe(`${captured * 10}.00`);
    expect(payerBalance).toEqual({
      balance: `${1000 - captured * 10}.00`,
      available: `${1000 - captured * 10}.00`,
      held: "0.00",
    });
  });
});

describe("hold expiry", async () => {
  // Its own database and queues: only workers with this short TTL may authorize these holds.
  const env = { ...(await isolatedEnv("holds")), HOLD_TTL_SECONDS: "1", RECONCILE_INTERVAL_MS: "300" };
  const short = await useApp(env);
  await useWorkers(short.services);

  it("releases exactly the held amount when the hold expires, with payment.canceled", async () => {
    const payer = await makeUser(short.services, { balance: 5_000n });
    const merchant = await makeUser(short.services, { role: "merchant" });
    const id = await authorize(short, payer, merchant, "20.00");
    expect(await balances(short, payer)).toMatchObject({ available: "30.00", held: "20.00" });
    const row = await settledTo(short, id, ["canceled"]);
    expect(row.status).toBe("canceled");
    const got = await short.request("GET", `/api/v1/payments/${id}`, { token: payer.token });
    expect(got.body).toMatchObject({
      status: "canceled",
      failure_code: "hold_expired",
      amount_capturable: "0.00",
    });
    expect(await balances(short, payer)).toEqual({ balance: "50.00", available: "50.00", held: "0.00" });
    const types = await short.services
      .sql`select type from events where payment_id = ${id} order by created_at`;
    expect(types.map((e) => e.type)).toEqual(["payment.requires_capture", "payment.canceled"]);
    expect((await capture(short, merchant, id)).body.code).toBe("payment_not_capturable");
    await expectLedgerHealthy(short.services.sql);
  });
});
