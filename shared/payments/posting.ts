import type { Services } from "../context.ts";
import { isDeterministicFailure, type Tx } from "../db/index.ts";
import { newId } from "../ids.ts";
import { type PostingInput, type PostingResult, postBatch } from "../ledger/index.ts";
import {
  type BatchState,
  type EventDraft,
  type OperationRow,
  type Plan,
  paymentEvent,
  refundEvent,
} from "./plan.ts";
import { planners } from "./planners.ts";
import type { PaymentRow, RefundRow } from "./types.ts";

/**
 * The posting engine. Work is claimed from the `operations` outbox of one partition in acceptance
 * order, planned against the payments' current state (shared/payments/planners.ts), and posted in
 * ONE database transaction together with the payments' and refunds' new states, their events and
 * the operations marked done. A crash at any point rolls the whole batch back; running the same
 * work twice finds it done.
 */

/** Advisory lock class for partitions: at most one poster per partition, whatever BullMQ does. */
const PARTITION_LOCK_CLASS = 727_274;

/** Writes the batch's payment states in one statement. */
async function savePayments(tx: Tx, rows: PaymentRow[]): Promise<void> {
  if (rows.length === 0) return;
  const col = <T>(f: (p: PaymentRow) => T) => rows.map(f);
  const str = (v: bigint) => String(v);
  await tx`
    update payments p set
      status = u.status, amount_capturable = u.amount_capturable, amount_captured = u.amount_captured,
      amount_refunded = u.amount_refunded, failure_code = u.failure_code, failure_message = u.failure_message,
      transaction_id = u.transaction_id, hold_expires_at = u.hold_expires_at, completed_at = u.completed_at,
      updated_at = u.updated_at, pending_action = u.pending_action, pending_action_amount = u.pending_action_amount
    from unnest(
      ${col((p) => p.id)}::text[], ${col((p) => p.status)}::text[],
      ${col((p) => str(p.amount_capturable))}::bigint[], ${col((p) => str(p.amount_captured))}::bigint[],
      ${col((p) => str(p.amount_refunded))}::bigint[], ${col((p) => p.failure_code)}::text[],
      ${col((p) => p.failure_message)}::text[], ${col((p) => p.transaction_id)}::text[],
      ${col((p) => p.hold_expires_at?.toISOString() ?? null)}::timestamptz[],
      ${col((p) => p.completed_at?.toISOString() ?? null)}::timestamptz[],
      ${col((p) => p.updated_at.toISOString())}::timestamptz[], ${col((p) => p.pending_action)}::text[],
      ${col((p) => (p.pending_action_amount === null ? null : String(p.pending_action_amount)))}::bigint[]
    ) as u(id, status, amount_capturable, amount_captured, amount_refunded, failure_code, failure_message,
           transaction_id, hold_expires_at, completed_at, updated_at, pending_action, pending_action_amount)
    where p.id = u.id`;
}

async function saveRefunds(tx: Tx, rows: RefundRow[]): Promise<void> {
  if (rows.length === 0) return;
  await tx`
    update refunds r set status = u.status, failure_code = u.failure_code, failure_message = u.failure_message,
           transaction_id = u.transaction_id, completed_at = u.completed_at, updated_at = u.updated_at
      from unnest(
        ${rows.map((r) => r.id)}::text[], ${rows.map((r) => r.status)}::text[], ${rows.map((r) => r.failure_code)}::text[],
        ${rows.map((r) => r.failure_message)}::text[], ${rows.map((r) => r.transaction_id)}::text[],
        ${rows.map((r) => r.completed_at?.toISOString() ?? null)}::timestamptz[],
        ${rows.map((r) => r.updated_at.toISOString())}::timestamptz[]
      ) as u(id, status, failure_code, failure_message, transaction_id, completed_at, updated_at)
     where r.id = u.id`;
}

async function saveEvents(tx: Tx, drafts: EventDraft[], owners: Map<string, string | null>): Promise<void> {
  if (drafts.length === 0) return;
  const rows = drafts.map((d) => {
    const id = newId("evt");
    const userIds = [...new Set(d.accounts.map((a) => owners.get(a)).filter((o): o is string => Boolean(o)))];
    return {
      id,
      type: d.type,
      payment_id: d.paymentId,
      refund_id: d.refundId,
      user_ids: `{${userIds.join(",")}}`,
      data: d.object,
    };
  });
  await tx`
    insert into events (id, type, payment_id, refund_id, user_ids, data)
    select id, type, payment_id, refund_id, user_ids::text[], jsonb_build_object('object', data)
      from jsonb_to_recordset(${tx.json(rows as never)})
        as x(id text, type text, payment_id text, refund_id text, user_ids text, data jsonb)`;
}

/** Who owns each account: an event is visible to the owners of the accounts it concerns. */
async function ownersOf(tx: Tx, accounts: string[]): Promise<Map<string, string | null>> {
  const rows = await tx<{ account_number: string; owner_id: string | null }[]>`
    select account_number, owner_id from accounts where account_number = any(${accounts}::text[])`;
  return new Map(rows.map((r) => [r.account_number, r.owner_id]));
}

/** Claims and posts one batch of a partition. Returns how many operations it handled. */
export async function postOneBatch(services: Services, partition: number, only?: string): Promise<number> {
  const { sql, config } = services;
  return sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${PARTITION_LOCK_CLASS}, ${partition})`;
    const ops = await tx<OperationRow[]>`
      select id, seq, partition, kind, payment_id, refund_id, amount from operations
       where partition = ${partition} and status = 'pending' ${only ? tx`and id = ${only}` : tx``}
       order by seq
       limit ${config.POSTING_BATCH_SIZE}
         for update skip locked`;
    if (ops.length === 0) return 0;
    const paymentIds = [...new Set(ops.map((o) => o.payment_id))];
    const payments = await tx<PaymentRow[]>`
      select * from payments where id = any(${paymentIds}::text[]) order by id for no key update`;
    const refundIds = ops.flatMap((o) => (o.refund_id ? [o.refund_id] : []));
    const refunds = refundIds.length
      ? await tx<
          RefundRow[]
        >`select * from refunds where id = any(${refundIds}::text[]) order by id for no key update`
      : [];
    const state: BatchState = {
      payments: new Map(payments.map((p) => [p.id, p])),
      refunds: new Map(refunds.map((r) => [r.id, r])),
      dirtyPayments: new Set(),
      dirtyRefunds: new Set(),
      services,
      tx,
    };
    const plans = ops.map((op) => planners[op.kind](op, state));
    // Read before the ledger locks the accounts, so nothing but writes happens while they are held.
    const owners = await ownersOf(tx, [...new Set(payments.flatMap((p) => [p.from_account, p.to_account]))]);
    const postings = plans.filter((p): p is Plan & { posting: PostingInput } => Boolean(p?.posting));
    const results = await postBatch(
      tx,
      postings.map((p) => p.posting),
    );
    const byPlan = new Map<Plan, PostingResult>(postings.map((p, i) => [p, results[i]!]));
    const now = new Date();
    const events: EventDraft[] = [];
    for (const plan of plans) {
      if (!plan) continue;
      const result = byPlan.get(plan);
      if (!result) events.push(...plan.onPosted({ transactionId: null, now }));
      else if (result.ok) events.push(...plan.onPosted({ transactionId: result.transactionId, now }));
      else events.push(...plan.onDeclined({ code: result.code, message: result.message, now }));
    }
    // One pipelined round trip for the rest of the batch's writes.
    await Promise.all([
      savePayments(
        tx,
        [...state.dirtyPayments].map((id) => state.payments.get(id)!),
      ),
      saveRefunds(
        tx,
        [...state.dirtyRefunds].map((id) => state.refunds.get(id)!),
      ),
      saveEvents(tx, events, owners),
      tx`update operations set status = 'done', done_at = clock_timestamp() where id = any(${ops.map((o) => o.id)}::text[])`,
    ]);
    services.metrics.postingBatchSize.observe(ops.length);
    return ops.length;
  });
}

/**
 * Sets one operation aside as failed: exactly the one that failed alone (another drainer may have
 * moved on meanwhile, so "the oldest" would not do), and only if it is still pending. Nothing of it
 * was posted (its transaction rolled back), so failing its payment or refund is safe and tells
 * their parties.
 */
async function quarantine(
  services: Services,
  partition: number,
  operationId: string,
  cause: unknown,
): Promise<void> {
  const message = cause instanceof Error ? cause.message : String(cause);
  await services.sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${PARTITION_LOCK_CLASS}, ${partition})`;
    const [op] = await tx<OperationRow[]>`
      select id, seq, partition, kind, payment_id, refund_id, amount from operations
       where id = ${operationId} and status = 'pending' for update`;
    if (!op) return;
    services.log.error(
      { operation_id: op.id, payment_id: op.payment_id, err: message },
      "operation set aside: posting it failed",
    );
    await tx`update operations set status = 'failed', error = ${message}, done_at = clock_timestamp() where id = ${op.id}`;
    const failure = {
      code: "processing_error",
      message: "The payment could not be processed; nothing was moved.",
    };
    const events: EventDraft[] = [];
    const [p] = await tx<PaymentRow[]>`select * from payments where id = ${op.payment_id} for no key update`;
    if (!p) return;
    if (op.kind === "payment" && p.status === "pending") {
      const [failed] = await tx<PaymentRow[]>`
        update payments set status = 'failed', failure_code = ${failure.code}, failure_message = ${failure.message},
                            completed_at = clock_timestamp(), updated_at = clock_timestamp()
         where id = ${p.id} returning *`;
      events.push(paymentEvent("payment.failed", failed!));
    } else if (op.kind === "refund" && op.refund_id) {
      const [r] = await tx<RefundRow[]>`
        update refunds set status = 'failed', failure_code = ${failure.code}, failure_message = ${failure.message},
                           completed_at = clock_timestamp(), updated_at = clock_timestamp()
         where id = ${op.refund_id} and status = 'pending' returning *`;
      if (r) events.push(refundEvent("refund.failed", r, p));
    } else if (p.pending_action === op.kind) {
      // A capture, cancel or expiry: the hold stays as it was and may be acted on again.
      await tx`update payments set pending_action = null, pending_action_amount = null, updated_at = clock_timestamp()
                where id = ${p.id}`;
    }
    await saveEvents(tx, events, await ownersOf(tx, [p.from_account, p.to_account]));
    services.metrics.paymentDeclines.inc({ code: failure.code });
  });
}

/**
 * Posts a partition's pending work until none is left (bounded, so one job cannot run forever).
 * Errors that may pass propagate (the job retries with backoff). A batch that fails for good is
 * narrowed down by posting its oldest operation alone; if that one fails for good too, it alone is
 * set aside, so a single bad operation never blocks the partition behind it.
 */
export async function drainPartition(
  services: Services,
  partition: number,
  maxBatches = 50,
): Promise<number> {
  let total = 0;
  for (let i = 0; i < maxBatches; i++) {
    let n: number;
    try {
      n = await postOneBatch(services, partition);
    } catch (err) {
      if (!isDeterministicFailure(err)) throw err;
      const [oldest] = await services.sql<{ id: string }[]>`
        select id from operations where partition = ${partition} and status = 'pending' order by seq limit 1`;
      if (!oldest) continue;
      try {
        n = await postOneBatch(services, partition, oldest.id);
      } catch (single) {
        if (!isDeterministicFailure(single)) throw single;
        await quarantine(services, partition, oldest.id, single);
        n = 1;
      }
      // One at a time: look again rather than read a short batch as "drained".
      total += n;
      continue;
    }
    total += n;
    if (n < services.config.POSTING_BATCH_SIZE) break;
  }
  return total;
}
