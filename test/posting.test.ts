import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { accountOrderKey, partitionOf } from "../shared/jobs.ts";
import { drainPartition } from "../shared/payments/posting.ts";
import { makeUser, useApp } from "./support/app.ts";
import { expectLedgerHealthy } from "./support/db.ts";
import { isolatedEnv } from "./support/isolated.ts";
import { pay } from "./support/payments.ts";

// Its own database and queues, and no workers: this file drives the posting engine by hand.
const t = await useApp(await isolatedEnv("posting"));

/**
 * A held payment whose capture operation is corrupt (more than is held: its legs cannot balance,
 * so posting it throws), queued ahead of three good payments from the same payer.
 */
async function poisonedPartition(poisonId: string) {
  const payer = await makeUser(t.services, { balance: 10_000n });
  const payee = await makeUser(t.services);
  const partition = partitionOf(payer.account.account_number, t.services.config.POSTING_PARTITIONS);
  const body = {
    from_account: payer.account.account_number,
    to_account: payee.account.account_number,
    currency: "USD",
  };
  const held = await pay(t, payer, { ...body, amount: "10.00", capture_method: "manual" });
  await drainPartition(t.services, partition);
  await t.services
    .sql`update payments set pending_action = 'capture', pending_action_amount = 5000 where id = ${held.body.id}`;
  await t.services.sql`
    insert into operations (id, order_key, kind, payment_id, amount)
    values (${poisonId}, ${accountOrderKey(payer.account.account_number)}, 'capture', ${held.body.id}, 5000)`;
  const behind = await Promise.all([1, 2, 3].map(() => pay(t, payer, { ...body, amount: "1.00" })));
  return { partition, heldId: held.body.id as string, behind: behind.map((r) => r.body.id as string) };
}

describe("the posting engine", () => {
  it("sets a poisoned operation aside and posts the work queued behind it", async () => {
    const { partition, heldId, behind } = await poisonedPartition("op_POISON0000000000000000000");
    await drainPartition(t.services, partition);

    const [poison] = await t.services
      .sql`select status, error from operations where id = 'op_POISON0000000000000000000'`;
    expect(poison?.status).toBe("failed");
    expect(poison?.error).toMatch(/unbalanced/);
    const [hold] = await t.services.sql`select status, pending_action from payments where id = ${heldId}`;
    // Set aside, the capture waits for ops (retry or resolve): nothing else may act on the hold.
    expect(hold).toMatchObject({ status: "requires_capture", pending_action: "capture" });
    const rows = await t.services.sql`select status from payments where id = any(${behind}::text[])`;
    expect(rows.map((r) => r.status)).toEqual(["succeeded", "succeeded", "succeeded"]);
    const [pending] = await t.services
      .sql`select count(*)::int as n from operations where status = 'pending'`;
    expect(pending?.n).toBe(0);
    // The outbox drains: the posted operations are gone, the set-aside one stays for ops.
    const left = await t.services.sql<{ id: string }[]>`
      select id from operations where payment_id = any(${[heldId, ...behind]}::text[]) order by seq`;
    expect(left.map((o) => o.id)).toEqual(["op_POISON0000000000000000000"]);
    await expectLedgerHealthy(t.services.sql);
  });

  it("running the same work twice posts it once", async () => {
    const payer = await makeUser(t.services, { balance: 10_000n });
    const payee = await makeUser(t.services);
    const partition = partitionOf(payer.account.account_number, t.services.config.POSTING_PARTITIONS);
    const res = await pay(t, payer, {
      from_account: payer.account.account_number,
      to_account: payee.account.account_number,
      amount: "7.00",
      currency: "USD",
    });
    // Two drains at once (as a stalled job and its re-run would): the partition lock serializes them.
    await Promise.all([drainPartition(t.services, partition), drainPartition(t.services, partition)]);
    await drainPartition(t.services, partition);
    const [tx] = await t.services
      .sql`select count(*)::int as n from transactions where payment_id = ${res.body.id}`;
    expect(tx?.n).toBe(1);
    const [p] = await t.services
      .sql`select balance from accounts where account_number = ${payee.account.account_number}`;
    expect(p?.balance).toBe(700n);
  });

  it("two drainers racing over a poisoned operation set aside only that operation", async () => {
    for (let trial = 0; trial < 8; trial++) {
      const poison = `op_RACE${String(trial).padStart(20, "0")}`;
      const { partition, behind } = await poisonedPartition(poison);
      await Promise.all([drainPartition(t.services, partition), drainPartition(t.services, partition)]);
      const rows = await t.services.sql`select status from payments where id = any(${behind}::text[])`;
      expect(rows.map((r) => r.status)).toEqual(["succeeded", "succeeded", "succeeded"]);
      const failed = await t.services
        .sql`select id from operations where status = 'failed' and id = ${poison}`;
      expect(failed).toHaveLength(1);
    }
    await expectLedgerHealthy(t.services.sql);
  });

  it("migration 018 removes the done operations of the past, but not the ones ops retried", async () => {
    const payer = await makeUser(t.services, { balance: 10_000n });
    const payee = await makeUser(t.services);
    const res = await pay(t, payer, {
      from_account: payer.account.account_number,
      to_account: payee.account.account_number,
      amount: "1.00",
      currency: "USD",
    });
    const orderKey = accountOrderKey(payer.account.account_number);
    // As the engine left them before 018: one posted operation, one posted after a retry.
    await t.services.sql`
      insert into operations (id, order_key, kind, payment_id, status, done_at, retries)
      values ('op_MIG018OLD000000000000000', ${orderKey}, 'payment', ${res.body.id}, 'done', now(), 0),
             ('op_MIG018RETRIED00000000000', ${orderKey}, 'payment', ${res.body.id}, 'done', now(), 1)`;
    const migration = await readFile(
      new URL("../migrations/018_operations_drain.sql", import.meta.url),
      "utf8",
    );
    await t.services.sql.unsafe(migration);
    const left = await t.services.sql<{ id: string }[]>`
      select id from operations where id like 'op_MIG018%' order by id`;
    expect(left.map((o) => o.id)).toEqual(["op_MIG018RETRIED00000000000"]);
  });
});
