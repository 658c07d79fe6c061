import { describe, expect, it } from "vitest";
import type { Metrics } from "../shared/metrics.ts";
import { drainPartition, postingFailureKind } from "../shared/payments/posting.ts";
import { makeUser, type TestUser, useApp } from "./support/app.ts";
import { expectLedgerHealthy } from "./support/db.ts";
import { isolatedEnv } from "./support/isolated.ts";
import { pay } from "./support/payments.ts";

// Its own database and no workers: these tests drive the posting engine by hand.
const env = await isolatedEnv("engine");
const t = await useApp(env);

async function counter(
  metric: { get(): Promise<{ values: { labels: object; value: number }[] }> },
  labels = {},
) {
  const { values } = await metric.get();
  const matches = values.filter((v) =>
    Object.entries(labels).every(([k, want]) => (v.labels as any)[k] === want),
  );
  return matches.reduce((sum, v) => sum + v.value, 0);
}
async function histogramCount(metric: Metrics["postingSeconds"]) {
  const { values } = await metric.get();
  return values.find((v) => v.metricName === "payment_posting_seconds_count")?.value ?? 0;
}

describe("per-account order across a change of POSTING_PARTITIONS", () => {
  it("posts each payer's first five payments and declines the last five, drained by 16 partitions at once", async () => {
    const four = await useApp({ ...env, POSTING_PARTITIONS: "4" });
    const sixteen = await useApp({ ...env, POSTING_PARTITIONS: "16" });
    const payee = await makeUser(t.services, { role: "merchant" });
    const payers = await Promise.all(
      Array.from({ length: 20 }, () => makeUser(t.services, { balance: 500n })),
    );
    const send = (app: typeof four, payer: TestUser) =>
      pay(app, payer, {
        from_account: payer.account.account_number,
        to_account: payee.account.account_number,
        amount: "1.00",
        currency: "USD",
      }).then((res) => {
        expect(res.status).toBe(202);
        return res.body.id as string;
      });
    const ids = new Map<string, string[]>(payers.map((p) => [p.id, []]));
    // Accepted by an API with 4 partitions, then (a restart later) by one with 16.
    for (const app of [four, sixteen]) {
      for (let i = 0; i < 5; i++) {
        const batch = await Promise.all(payers.map((payer) => send(app, payer)));
        for (const [n, id] of batch.entries()) ids.get(payers[n]!.id)!.push(id);
      }
    }
    // Posted by 16-partition workers, all partitions at once.
    await Promise.all(Array.from({ length: 16 }, (_, p) => drainPartition(sixteen.services, p)));
    const rows = await t.services.sql<{ id: string; status: string; failure_code: string | null }[]>`
      select id, status, failure_code from payments where id = any(${[...ids.values()].flat()}::text[])`;
    const statusOf = new Map(rows.map((r) => [r.id, r.failure_code ?? r.status]));
    for (const payer of payers) {
      expect(
        ids.get(payer.id)!.map((id) => statusOf.get(id)),
        payer.id,
      ).toEqual([...Array(5).fill("succeeded"), ...Array(5).fill("insufficient_funds")]);
    }
    await expectLedgerHealthy(t.services.sql);
  });
});

describe("a poisoned operation among 200", () => {
  it("is isolated in about ten transactions, the other 199 post, and rolled-back batches count no metrics", async () => {
    const { metrics } = t.services;
    const payee = await makeUser(t.services, { role: "merchant" });
    const payers = await Promise.all(
      Array.from({ length: 20 }, () => makeUser(t.services, { balance: 100_000n })),
    );
    const ids: string[] = [];
    for (let round = 0; round < 10; round++) {
      const batch = await Promise.all(
        payers.map((payer) =>
          pay(t, payer, {
            from_account: payer.account.account_number,
            to_account: payee.account.account_number,
            amount: "1.00",
            currency: "USD",
          }),
        ),
      );
      ids.push(...batch.map((r) => r.body.id as string));
    }
    expect(ids).toHaveLength(200);
    // The 137th: its payee is now an account in another currency, so its posting cannot balance.
    const foreign = await makeUser(t.services, { currency: "EUR" });
    const poisoned = ids[136]!;
    await t.services
      .sql`update payments set to_account = ${foreign.account.account_number} where id = ${poisoned}`;

    const before = {
      committed: await counter(metrics.postingTransactions, { result: "committed" }),
      rolledBack: await counter(metrics.postingTransactions, { result: "rolled_back" }),
      succeeded: await counter(metrics.paymentsCompleted, { status: "succeeded" }),
      failed: await counter(metrics.paymentsCompleted, { status: "failed" }),
      declines: await counter(metrics.paymentDeclines, { code: "processing_error" }),
      setAside: await counter(metrics.operationsSetAside),
      postingSeconds: await histogramCount(metrics.postingSeconds),
    };
    // 199 posted and 1 set aside.
    expect(await drainPartition(t.services, 0)).toBe(200);

    const transactions =
      (await counter(metrics.postingTransactions, { result: "committed" })) -
      before.committed +
      (await counter(metrics.postingTransactions, { result: "rolled_back" })) -
      before.rolledBack;
    // The failed batch, ~log2(200) = 8 halvings, setting it aside, and the rest in one batch.
    expect(transactions).toBeLessThanOrEqual(12);

    const rows = await t.services.sql<{ id: string; status: string; failure_code: string | null }[]>`
      select id, status, failure_code from payments where id = any(${ids}::text[])`;
    const bad = rows.filter((r) => r.status !== "succeeded");
    // Set aside: its payment waits, pending, for ops to retry or resolve it.
    expect(bad).toEqual([{ id: poisoned, status: "pending", failure_code: null }]);
    const [op] = await t.services.sql`select status, error from operations where payment_id = ${poisoned}`;
    expect(op).toMatchObject({ status: "failed", error: expect.stringMatching(/unbalanced/) });

    // Counted once per payment, whatever was rolled back on the way.
    expect((await counter(metrics.paymentsCompleted, { status: "succeeded" })) - before.succeeded).toBe(199);
    expect((await counter(metrics.paymentsCompleted, { status: "failed" })) - before.failed).toBe(0);
    expect((await counter(metrics.paymentDeclines, { code: "processing_error" })) - before.declines).toBe(0);
    expect((await counter(metrics.operationsSetAside)) - before.setAside).toBe(1);
    expect((await histogramCount(metrics.postingSeconds)) - before.postingSeconds).toBe(199);
  });
});

describe("what a failed batch means", () => {
  it("sets aside for an operation's own data, retries later for anything else", () => {
    expect(postingFailureKind(Object.assign(new Error("bad value"), { code: "22003" }))).toBe("set_aside");
    expect(postingFailureKind(Object.assign(new Error("constraint"), { code: "23514" }))).toBe("set_aside");
    // Connection trouble, contention, a schema or code bug: every operation would fail alike.
    for (const code of ["CONNECTION_CLOSED", "ECONNREFUSED", "40001", "40P01", "57P01", "42703", undefined]) {
      expect(postingFailureKind(Object.assign(new Error("x"), { code })), String(code)).toBe("retry_later");
    }
    expect(postingFailureKind(new TypeError("Cannot read properties of undefined"))).toBe("retry_later");
  });
});
