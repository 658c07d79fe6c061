import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { makeUser, useApp } from "./support/app.ts";
import { expectLedgerHealthy } from "./support/db.ts";
import { exited, isolatedEnv, spawnWorker } from "./support/isolated.ts";
import { key, pay, settled, useWorkers } from "./support/payments.ts";
import { waitFor } from "./support/wait.ts";

/** Every payment posted at most once, and every succeeded one exactly once, with balances to match. */
async function expectExactlyOnce(t: Awaited<ReturnType<typeof useApp>>, ids: string[]) {
  const rows = await t.services.sql<
    { id: string; status: string; txs: number; transaction_id: string | null }[]
  >`
    select p.id, p.status, p.transaction_id, (select count(*)::int from transactions x where x.payment_id = p.id) as txs
      from payments p where p.id = any(${ids}::text[])`;
  expect(rows).toHaveLength(ids.length);
  for (const r of rows) {
    expect(r.txs).toBe(r.status === "succeeded" ? 1 : 0);
    if (r.status === "succeeded") expect(r.transaction_id).toBeTruthy();
  }
  const [ops] = await t.services.sql`select count(*)::int as n from operations where status = 'pending'`;
  expect(ops?.n).toBe(0);
  await expectLedgerHealthy(t.services.sql);
}

describe("a worker killed mid-batch", async () => {
  const env: Record<string, string> = {
    ...(await isolatedEnv("crash")),
    POSTING_BATCH_SIZE: "3",
    RECONCILE_INTERVAL_MS: "1000",
    RECONCILE_GRACE_MS: "2000",
  };
  const t = await useApp(env);

  it("loses nothing: after a restart every accepted payment is posted exactly once", async () => {
    const payers = await Promise.all(
      Array.from({ length: 20 }, () => makeUser(t.services, { balance: 100_000n })),
    );
    const payee = await makeUser(t.services, { role: "merchant" });
    const ids: string[] = [];
    for (let round = 0; round < 15; round++) {
      const batch = await Promise.all(
        payers.map((p) =>
          pay(t, p, {
            from_account: p.account.account_number,
            to_account: payee.account.account_number,
            amount: "1.00",
            currency: "USD",
          }),
        ),
      );
      ids.push(...batch.map((r) => r.body.id));
    }
    expect(ids).toHaveLength(300);

    const first = spawnWorker(env);
    // Kill it once it is visibly mid-way: some posted, plenty still pending.
    await waitFor(
      async () => {
        const [row] = await t.services.sql<
          { n: number }[]
        >`select count(*)::int as n from payments where id = any(${ids}::text[]) and status <> 'pending'`;
        return row!.n >= 20;
      },
      { intervalMs: 5, what: "the first worker to post some payments" },
    );
    first.kill("SIGKILL");
    await exited(first);
    const [midway] = await t.services.sql<
      { n: number }[]
    >`select count(*)::int as n from payments where id = any(${ids}::text[]) and status = 'pending'`;
    expect(midway!.n).toBeGreaterThan(0);

    const second = spawnWorker(env);
    await settled(t.services, ids, 90_000);
    second.kill("SIGTERM");
    expect(await exited(second)).toBe(0);
    await expectExactlyOnce(t, ids);
    const [payeeRow] = await t.services.sql<
      { balance: bigint }[]
    >`select balance from accounts where account_number = ${payee.account.account_number}`;
    expect(payeeRow?.balance).toBe(300n * 100n);
  });
});

describe("Redis wiped while payments are pending", async () => {
  const env: Record<string, string> = {
    ...(await isolatedEnv("flush", 7)),
    RECONCILE_INTERVAL_MS: "500",
    RECONCILE_GRACE_MS: "1000",
  };
  const t = await useApp(env);

  it("the reconciler posts them all from Postgres", async () => {
    const payer = await makeUser(t.services, { balance: 10_000n });
    const payee = await makeUser(t.services);
    const ids: string[] = [];
    for (let i = 0; i < 25; i++) {
      const r = await pay(
        t,
        payer,
        {
          from_account: payer.account.account_number,
          to_account: payee.account.account_number,
          amount: "2.00",
          currency: "USD",
        },
        key(),
      );
      ids.push(r.body.id);
    }
    const redis = new Redis(env.REDIS_URL!);
    const before = await redis.dbsize();
    expect(before).toBeGreaterThan(0); // the jobs were there
    await redis.flushdb();
    expect(await redis.dbsize()).toBe(0);
    redis.disconnect();

    await useWorkers(t.services);
    const rows = await settled(t.services, ids, 30_000);
    expect(rows.every((r) => r.status === "succeeded")).toBe(true);
    await expectExactlyOnce(t, ids);
  });
});
