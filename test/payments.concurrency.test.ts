import { describe, expect, it } from "vitest";
import { makeUser, useApp } from "./support/app.ts";
import { expectLedgerHealthy } from "./support/db.ts";
import { balanceOf, key, pay, settled, useWorkers } from "./support/payments.ts";

const t = await useApp();
await useWorkers(t.services);

async function paymentsBy(userId: string): Promise<number> {
  const [row] = await t.services.sql<
    { n: number }[]
  >`select count(*)::int as n from payments where created_by = ${userId}`;
  return row!.n;
}

describe("idempotency", async () => {
  const alice = await makeUser(t.services, { balance: 100_000n });
  const bob = await makeUser(t.services);
  const body = {
    from_account: alice.account.account_number,
    to_account: bob.account.account_number,
    amount: "3.00",
    currency: "USD",
  };

  it("replays the stored response byte for byte and processes nothing twice", async () => {
    const k = key();
    const first = await t.app.request("/api/v1/payments", {
      method: "POST",
      headers: {
        authorization: `Bearer ${alice.token}`,
        "content-type": "application/json",
        "Idempotency-Key": k,
      },
      body: JSON.stringify(body),
    });
    const firstText = await first.text();
    expect(first.status).toBe(202);
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    // Same request, keys in another order and the amount as a number: still the same request.
    const again = await t.app.request("/api/v1/payments", {
      method: "POST",
      headers: {
        authorization: `Bearer ${alice.token}`,
        "content-type": "application/json",
        "Idempotency-Key": `"${k}"`,
      },
      body: JSON.stringify({
        currency: "USD",
        amount: "3.00",
        to_account: body.to_account,
        from_account: body.from_account,
      }),
    });
    expect(again.status).toBe(202);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(await again.text()).toBe(firstText);
    const [row] = await t.services
      .sql`select count(*)::int as n from payments where id = ${JSON.parse(firstText).id}`;
    expect(row?.n).toBe(1);
  });

  it("refuses a reused key with a different request (422) and a missing key (400)", async () => {
    const k = key();
    expect((await pay(t, alice, body, k)).status).toBe(202);
    const before = await paymentsBy(alice.id);
    const reused = await pay(t, alice, { ...body, amount: "4.00" }, k);
    expect(reused.status).toBe(422);
    expect(reused.body.code).toBe("idempotency_key_reused");
    const missing = await pay(t, alice, body, null);
    expect(missing.status).toBe(400);
    expect(missing.body.code).toBe("idempotency_key_required");
    const conflicting = await t.request("POST", "/api/v1/payments", {
      token: alice.token,
      headers: { "Idempotency-Key": key() },
      body: { ...body, idempotency_key: "something-else" },
    });
    expect(conflicting.status).toBe(400);
    const tooLong = await pay(t, alice, body, "k".repeat(256));
    expect(tooLong.status).toBe(400);
    expect(await paymentsBy(alice.id)).toBe(before);
  });

  it("accepts the key in the body for compatibility", async () => {
    const k = key();
    const a = await t.request("POST", "/api/v1/payments", {
      token: alice.token,
      body: { ...body, idempotency_key: k },
    });
    const b = await t.request("POST", "/api/v1/payments", {
      token: alice.token,
      body: { ...body, idempotency_key: k },
    });
    expect(a.status).toBe(202);
    expect(b.headers.get("idempotent-replayed")).toBe("true");
    expect(b.body.id).toBe(a.body.id);
  });

  it("processes exactly one of many concurrent requests with one key; the others get 409 or the replay", async () => {
    const carol = await makeUser(t.services, { balance: 100_000n });
    const k = key();
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        pay(t, carol, { ...body, from_account: carol.account.account_number }, k),
      ),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.every((s) => s === 202 || s === 409)).toBe(true);
    const fresh = results.filter((r) => r.status === 202 && r.headers.get("idempotent-replayed") !== "true");
    expect(fresh).toHaveLength(1);
    for (const r of results.filter((r) => r.status === 409))
      expect(r.body.code).toBe("idempotency_key_in_use");
    expect(await paymentsBy(carol.id)).toBe(1);
  });

  it("scopes keys to the principal: two users may use the same key", async () => {
    const k = key();
    const dave = await makeUser(t.services, { balance: 1_000n });
    const a = await pay(t, alice, body, k);
    const d = await pay(t, dave, { ...body, from_account: dave.account.account_number }, k);
    expect(a.status).toBe(202);
    expect(d.status).toBe(202);
    expect(d.headers.get("idempotent-replayed")).toBeNull();
    expect(d.body.id).not.toBe(a.body.id);
  });
});

describe("concurrency", () => {
  it("100 concurrent 1.00 payments from an account holding 50.00: exactly 50 succeed", async () => {
    const payer = await makeUser(t.services, { balance: 5_000n });
    const payees = await Promise.all(Array.from({ length: 4 }, () => makeUser(t.services)));
    const responses = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        pay(t, payer, {
          from_account: payer.account.account_number,
          to_account: payees[i % 4]!.account.account_number,
          amount: "1.00",
          currency: "USD",
        }),
      ),
    );
    expect(responses.every((r) => r.status === 202)).toBe(true);
    const rows = await settled(
      t.services,
      responses.map((r) => r.body.id),
    );
    expect(rows.filter((r) => r.status === "succeeded")).toHaveLength(50);
    const failed = rows.filter((r) => r.status === "failed");
    expect(failed).toHaveLength(50);
    expect(failed.every((r) => r.failure_code === "insufficient_funds")).toBe(true);
    expect(await balanceOf(t.services, payer.account.account_number)).toBe(0n);
    let received = 0n;
    for (const p of payees) received += await balanceOf(t.services, p.account.account_number);
    expect(received).toBe(5_000n);
    const verify = await t.request("GET", "/api/v1/ops/ledger/verify", {
      token: (await makeUser(t.services, { role: "admin" })).token,
    });
    expect(verify.body.ok).toBe(true);
    await expectLedgerHealthy(t.services.sql);
  });

  it("many payers paying one hot merchant concurrently all post, conserving money", async () => {
    const merchant = await makeUser(t.services, { role: "merchant" });
    const payers = await Promise.all(
      Array.from({ length: 40 }, () => makeUser(t.services, { balance: 1_000n })),
    );
    const responses = await Promise.all(
      payers.flatMap((p) =>
        [1, 2, 3].map(() =>
          pay(t, p, {
            from_account: p.account.account_number,
            to_account: merchant.account.account_number,
            amount: "2.50",
            currency: "USD",
          }),
        ),
      ),
    );
    const rows = await settled(
      t.services,
      responses.map((r) => r.body.id),
    );
    expect(rows.every((r) => r.status === "succeeded")).toBe(true);
    expect(await balanceOf(t.services, merchant.account.account_number)).toBe(120n * 250n);
    await expectLedgerHealthy(t.services.sql);
  });

  it("never deadlocks: payments in both directions accepted while others post", async () => {
    const deadlocks = async () => {
      // Backends flush their statistics about once a second.
      await new Promise((r) => setTimeout(r, 1500));
      const [row] = await t.services.sql<{ n: bigint }[]>`
        select deadlocks as n from pg_stat_database where datname = current_database()`;
      return row!.n;
    };
    const before = await deadlocks();
    const users = await Promise.all(
      Array.from({ length: 6 }, () => makeUser(t.services, { balance: 100_000n })),
    );
    const ids: string[] = [];
    for (let round = 0; round < 5; round++) {
      const responses = await Promise.all(
        users.flatMap((from, i) =>
          users
            .filter((_, j) => j !== i)
            .map((to, j) =>
              // Half payments, half transfers naming their source: both acceptance paths.
              j % 2 === 0
                ? pay(t, from, {
                    from_account: from.account.account_number,
                    to_account: to.account.account_number,
                    amount: "0.10",
                    currency: "USD",
                  })
                : t.request("POST", "/api/v1/transfers", {
                    token: from.token,
                    headers: { "Idempotency-Key": key() },
                    body: {
                      from_account: from.account.account_number,
                      to: to.account.account_number,
                      amount: "0.10",
                      currency: "USD",
                    },
                  }),
            ),
        ),
      );
      expect(responses.every((r) => r.status === 202)).toBe(true);
      ids.push(...responses.map((r) => r.body.id));
    }
    const rows = await settled(t.services, ids);
    expect(rows.every((r) => r.status === "succeeded")).toBe(true);
    expect(await deadlocks()).toBe(before);
    await expectLedgerHealthy(t.services.sql);
  });
});
