import type { Services } from "../context.ts";
import type { Db, Tx } from "../db/index.ts";
import { newId } from "../ids.ts";
import { MalformedPostingError, type PostingInput, type PostingResult, postBatch } from "../ledger/index.ts";
import { payoutEvent } from "../payouts/serialize.ts";
import type { PayoutRow } from "../payouts/types.ts";
import {
  type Change,
  type EventDraft,
  type OperationRow,
  type Plan,
  paymentEvent,
  refundEvent,
} from "./plan.ts";
import { planOperation, planPayout } from "./planners.ts";
import { partyAccounts } from "./splits.ts";
import {
  type Applied,
  type AppliedPayout,
  applyPayoutTransition,
  applyTransition,
  IllegalTransitionError,
  PROCESSING_ERROR,
} from "./state.ts";
import type { PaymentRow, RefundRow } from "./types.ts";

/**
 * The posting engine. Work is claimed from the `operations` outbox of one partition in acceptance
 * order, planned against the payments' current state (pure planners, shared/payments/planners.ts),
 * and posted in ONE database transaction together with the payments' and refunds' new states (the
 * state table, shared/payments/state.ts), their events, and the handled operations taken out of
 * the outbox. This file is the one place that writes them. A crash at any point rolls the whole
 * batch back; running the same work twice finds nothing pending. Metrics are counted after COMMIT,
 * so a rolled-back batch counts nothing.
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

/** Writes payouts' new states (the posting engine's and ops' settlements). */
export async function savePayouts(tx: Tx, rows: PayoutRow[]): Promise<void> {
  if (rows.length === 0) return;
  await tx`
    update payouts o set status = u.status, failure_code = u.failure_code, failure_message = u.failure_message,
           transaction_id = u.transaction_id, settle_transaction_id = u.settle_transaction_id,
           completed_at = u.completed_at, updated_at = u.updated_at
      from unnest(
        ${rows.map((r) => r.id)}::text[], ${rows.map((r) => r.status)}::text[], ${rows.map((r) => r.failure_code)}::text[],
        ${rows.map((r) => r.failure_message)}::text[], ${rows.map((r) => r.transaction_id)}::text[],
        ${rows.map((r) => r.settle_transaction_id)}::text[],
        ${rows.map((r) => r.completed_at?.toISOString() ?? null)}::timestamptz[],
        ${rows.map((r) => r.updated_at.toISOString())}::timestamptz[]
      ) as u(id, status, failure_code, failure_message, transaction_id, settle_transaction_id, completed_at, updated_at)
     where o.id = u.id`;
}

/**
 * Writes events. An event none of whose users has an endpoint that could receive it (enabled, not
 * deleted, subscribed to its type: the dispatcher's own match) is written already dispatched, so
 * the dispatcher never claims or updates it; only events with a candidate endpoint wait for it.
 *
 * Which events an endpoint gets: those written after its creation committed, while it is enabled
 * and subscribed (and still so when the dispatcher runs). The check reads this INSERT's snapshot,
 * so an endpoint created, re-enabled or subscribed in a transaction that commits while the INSERT
 * runs can miss the event, as one committing after the dispatcher claimed it could before: events
 * concurrent with the change are not promised, every later one is. GET /events lists every event,
 * and POST /events/{id}/redeliver sends one to the endpoints that match it now.
 */
export async function saveEvents(
  tx: Tx,
  drafts: EventDraft[],
  owners: Map<string, string | null>,
): Promise<void> {
  if (drafts.length === 0) return;
  const rows = drafts.map((d) => {
    const id = newId("evt");
    const userIds = [...new Set(d.accounts.map((a) => owners.get(a)).filter((o): o is string => Boolean(o)))];
    return {
      id,
      type: d.type,
      payment_id: d.paymentId,
      refund_id: d.refundId,
      payout_id: d.payoutId ?? null,
      user_ids: `{${userIds.join(",")}}`,
      data: d.object,
    };
  });
  await tx`
    insert into events (id, type, payment_id, refund_id, payout_id, user_ids, data, dispatched_at)
    select x.id, x.type, x.payment_id, x.refund_id, x.payout_id, x.user_ids::text[],
           jsonb_build_object('object', x.data),
           case when exists (
             select 1 from webhook_endpoints w
              where w.user_id = any(x.user_ids::text[]) and webhook_endpoint_receives(w, x.type)
           ) then null else clock_timestamp() end
      from jsonb_to_recordset(${tx.json(rows as never)})
        as x(id text, type text, payment_id text, refund_id text, payout_id text, user_ids text, data jsonb)`;
}

/** Who owns each account: an event is visible to the owners of the accounts it concerns. */
export async function ownersOf(tx: Tx, accounts: string[]): Promise<Map<string, string | null>> {
  const rows = await tx<{ account_number: string; owner_id: string | null }[]>`
    select account_number, owner_id from accounts where account_number = any(${accounts}::text[])`;
  return new Map(rows.map((r) => [r.account_number, r.owner_id]));
}

export const OPERATION_COLUMNS = [
  "id",
  "seq",
  "kind",
  "payment_id",
  "payout_id",
  "refund_id",
  "amount",
  "order_key",
];

/** An operation's partition under this process's POSTING_PARTITIONS (see migration 007). */
function partitionFilter(tx: Db, services: Services, partition: number) {
  const partitions = services.config.POSTING_PARTITIONS;
  return partitions === 1 ? tx`` : tx`and order_key % ${partitions} = ${partition}`;
}

/** A claimed operation; `retried`: ops sent it back from set-aside at least once. */
type Claimed = OperationRow & { retried: boolean };

/**
 * The outbox drains: each handled operation's row is deleted by the transaction that posts it (no
 * new row version, no index entries; migration 018). One that ops retried stays, marked done, as
 * the record of what ops did (and a second retry of it is a 409, not a 404).
 */
function finishOperations(tx: Tx, ops: Claimed[]) {
  const rest = ops.filter((o) => !o.retried).map((o) => o.id);
  const retried = ops.filter((o) => o.retried).map((o) => o.id);
  const writes = [];
  if (rest.length > 0) writes.push(tx`delete from operations where id = any(${rest}::text[])`);
  if (retried.length > 0) {
    writes.push(tx`
      update operations set status = 'done', done_at = clock_timestamp() where id = any(${retried}::text[])`);
  }
  return writes;
}

/** Claims a batch of a partition, oldest first: the next ones, or exactly `only` (still pending). */
async function claim(
  tx: Tx,
  services: Services,
  partition: number,
  only: readonly string[] | undefined,
): Promise<Claimed[]> {
  await tx`select pg_advisory_xact_lock(${PARTITION_LOCK_CLASS}, ${partition})`;
  return tx<Claimed[]>`
    select ${tx(OPERATION_COLUMNS)}, retries > 0 as retried from operations
     where status = 'pending' ${partitionFilter(tx, services, partition)}
           ${only ? tx`and id = any(${only as string[]}::text[])` : tx``}
     order by seq
     limit ${services.config.POSTING_BATCH_SIZE}
       for update skip locked`;
}

/** Everything one batch did, for the metrics counted once it has committed. */
interface BatchResult {
  handled: number;
  applied: Applied[];
  appliedPayouts: AppliedPayout[];
}

/** Plans every operation of the batch in order; each sees the refunds planned before it. */
function planBatch(
  ops: OperationRow[],
  payments: Map<string, PaymentRow>,
  refunds: Map<string, RefundRow>,
  payouts: Map<string, PayoutRow>,
) {
  const refundsInFlight = new Map<string, bigint>();
  return ops.map((op) => {
    if (op.payout_id) {
      const payout = payouts.get(op.payout_id);
      return payout ? planPayout(payout) : null;
    }
    const payment = op.payment_id ? payments.get(op.payment_id) : undefined;
    if (!payment) return null;
    const refund = op.refund_id ? (refunds.get(op.refund_id) ?? null) : null;
    const plan = planOperation(op, {
      payment,
      refund,
      refundsInFlight: refundsInFlight.get(payment.id) ?? 0n,
    });
    if (plan?.posting && refund) {
      refundsInFlight.set(payment.id, (refundsInFlight.get(payment.id) ?? 0n) + refund.amount);
    }
    return plan;
  });
}

/** Claims and posts one batch of a partition, in one transaction. */
async function postBatchOf(
  services: Services,
  partition: number,
  only?: readonly string[],
): Promise<BatchResult> {
  const { sql, config } = services;
  try {
    const result = await sql.begin(async (tx): Promise<BatchResult> => {
      const ops = await claim(tx, services, partition, only);
      if (ops.length === 0) return { handled: 0, applied: [], appliedPayouts: [] };
      const paymentIds = [...new Set(ops.flatMap((o) => (o.payment_id ? [o.payment_id] : [])))];
      const payments = await tx<PaymentRow[]>`
        select * from payments where id = any(${paymentIds}::text[]) order by id for no key update`;
      const refundIds = ops.flatMap((o) => (o.refund_id ? [o.refund_id] : []));
      const refunds = refundIds.length
        ? await tx<RefundRow[]>`
            select * from refunds where id = any(${refundIds}::text[]) order by id for no key update`
        : [];
      const payoutIds = ops.flatMap((o) => (o.payout_id ? [o.payout_id] : []));
      const payouts = payoutIds.length
        ? await tx<PayoutRow[]>`
            select * from payouts where id = any(${payoutIds}::text[]) order by id for no key update`
        : [];
      const paymentById = new Map(payments.map((p) => [p.id, p]));
      const refundById = new Map(refunds.map((r) => [r.id, r]));
      const payoutById = new Map(payouts.map((p) => [p.id, p]));
      const plans = planBatch(ops, paymentById, refundById, payoutById);
      // Read before the ledger locks the accounts, so nothing but writes happens while they are held.
      const owners = await ownersOf(tx, [
        ...new Set([...payments.flatMap(partyAccounts), ...payouts.map((p) => p.from_account)]),
      ]);
      const postings = plans.filter((p): p is Plan & { posting: PostingInput } => Boolean(p?.posting));
      const results = await postBatch(
        tx,
        postings.map((p) => p.posting),
      );
      const resultOf = new Map<Plan, PostingResult>(postings.map((p, i) => [p, results[i]!]));

      // Apply each operation's outcome in acceptance order, to the rows as the ones before left them.
      const now = new Date();
      const applied: Applied[] = [];
      const appliedPayouts: AppliedPayout[] = [];
      ops.forEach((op, i) => {
        const plan = plans[i];
        if (!plan) return;
        const result = resultOf.get(plan);
        let change: Change;
        let transactionId: string | null = null;
        if (!result || result.ok) {
          change = plan.ifPosted;
          transactionId = result?.transactionId ?? null;
        } else if (plan.ifDeclined) {
          change = { ...plan.ifDeclined, failure: { code: result.code, message: result.message } };
        } else {
          throw new IllegalTransitionError(
            op.kind,
            (op.payout_id ? payoutById.get(op.payout_id) : paymentById.get(op.payment_id!))!,
            "declined",
            result.message,
          );
        }
        const input = {
          now,
          transactionId,
          amount: op.amount,
          failure: change.failure ?? null,
          holdTtlSeconds: config.HOLD_TTL_SECONDS,
        };
        if (op.payout_id) {
          const payout = payoutById.get(op.payout_id)!;
          if (change.outcome === "authorized")
            throw new IllegalTransitionError(op.kind, payout, change.outcome);
          const done = applyPayoutTransition(payout, change.outcome, input);
          payoutById.set(done.payout.id, done.payout);
          appliedPayouts.push(done);
          return;
        }
        const refund = op.refund_id ? (refundById.get(op.refund_id) ?? null) : null;
        const done = applyTransition(
          op.kind,
          paymentById.get(op.payment_id!)!,
          refund,
          change.outcome,
          input,
        );
        paymentById.set(done.payment.id, done.payment);
        if (done.refund) refundById.set(done.refund.id, done.refund);
        applied.push(done);
      });

      // One pipelined round trip for the rest of the batch's writes.
      await Promise.all([
        savePayments(tx, lastRowOf(applied.map((a) => a.payment))),
        saveRefunds(tx, lastRowOf(applied.flatMap((a) => (a.refund ? [a.refund] : [])))),
        savePayouts(tx, lastRowOf(appliedPayouts.map((a) => a.payout))),
        saveEvents(tx, [...applied.flatMap(eventOf), ...appliedPayouts.flatMap(payoutEventOf)], owners),
        ...finishOperations(tx, ops),
      ]);
      return { handled: ops.length, applied, appliedPayouts };
    });
    services.metrics.postingTransactions.inc({ result: "committed" });
    if (result.handled > 0) services.metrics.postingBatchSize.observe(result.handled);
    recordMetrics(services, result.applied);
    return result;
  } catch (err) {
    services.metrics.postingTransactions.inc({ result: "rolled_back" });
    throw err;
  }
}

/** The final row of each id (a payment may change twice in a batch, e.g. two refunds). */
function lastRowOf<T extends { id: string }>(rows: T[]): T[] {
  return [...new Map(rows.map((r) => [r.id, r])).values()];
}

export function payoutEventOf({ transition, payout }: AppliedPayout): EventDraft[] {
  return transition.event ? [payoutEvent(transition.event, payout)] : [];
}

function eventOf({ transition, payment, refund }: Applied): EventDraft[] {
  if (!transition.event) return [];
  return [refund ? refundEvent(transition.event, refund, payment) : paymentEvent(transition.event, payment)];
}

/** Counted after COMMIT from what the batch applied: a rolled-back batch counts nothing. */
export function recordMetrics(services: Services, applied: Applied[]): void {
  const { metrics } = services;
  for (const { transition, payment, refund, before } of applied) {
    const { kind, outcome } = transition;
    if (kind === "payment" && (outcome === "posted" || outcome === "authorized" || outcome === "declined")) {
      metrics.postingSeconds.observe((payment.updated_at.getTime() - payment.created_at.getTime()) / 1000);
    }
    if (kind !== "refund" && transition.to !== before.status) {
      metrics.paymentsCompleted.inc({ status: transition.to });
    }
    if (outcome === "declined" || outcome === "resolved") {
      metrics.paymentDeclines.inc({ code: (refund ?? payment).failure_code ?? PROCESSING_ERROR.code });
    }
  }
}

/**
 * Sets one operation aside: exactly the one that failed alone (another drainer may have moved on
 * meanwhile, so "the oldest" would not do), and only if it is still pending. Nothing of it was
 * posted (its transaction rolled back) and its payment or refund stays as it is (the table's
 * `set_aside` rows change nothing): ops retry it or resolve it (shared/payments/operations.ts).
 */
async function setAside(
  services: Services,
  partition: number,
  operationId: string,
  cause: unknown,
): Promise<number> {
  const message = cause instanceof Error ? cause.message : String(cause);
  const [op] = await services.sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${PARTITION_LOCK_CLASS}, ${partition})`;
    return tx<{ id: string; payment_id: string | null; payout_id: string | null }[]>`
      update operations set status = 'failed', error = ${message}, set_aside_at = clock_timestamp()
       where id = ${operationId} and status = 'pending'
      returning id, payment_id, payout_id`;
  });
  services.metrics.postingTransactions.inc({ result: "committed" });
  if (!op) return 0; // another drainer got to it first
  services.log.error(
    { operation_id: op.id, payment_id: op.payment_id, payout_id: op.payout_id, err: message },
    "operation set aside: posting it fails for good; retry or resolve it (ops API)",
  );
  services.metrics.operationsSetAside.inc();
  return 1;
}

/**
 * Closes a set-aside operation without posting it (ops' resolve), inside the caller's transaction:
 * the table's `resolved` outcome for its payment or refund, and the events for its parties. The
 * caller records the returned outcome's metrics after COMMIT (recordMetrics).
 */
export async function resolveSetAside(tx: Tx, services: Services, op: OperationRow): Promise<Applied | null> {
  if (op.payout_id) {
    await resolveSetAsidePayout(tx, op.payout_id);
    return null;
  }
  const [payment] = await tx<
    PaymentRow[]
  >`select * from payments where id = ${op.payment_id} for no key update`;
  const [refund] = op.refund_id
    ? await tx<RefundRow[]>`select * from refunds where id = ${op.refund_id} for no key update`
    : [];
  // Nothing left to undo (e.g. a hold released meanwhile): only the operation is closed.
  if (!payment || !planOperation(op, { payment, refund: refund ?? null, refundsInFlight: 0n })) return null;
  const done = applyTransition(op.kind, payment, refund ?? null, "resolved", {
    now: new Date(),
    transactionId: null,
    amount: op.amount,
    failure: PROCESSING_ERROR,
    holdTtlSeconds: services.config.HOLD_TTL_SECONDS,
  });
  await Promise.all([
    savePayments(tx, [done.payment]),
    saveRefunds(tx, done.refund ? [done.refund] : []),
    saveEvents(tx, eventOf(done), await ownersOf(tx, partyAccounts(payment))),
  ]);
  return done;
}

/** A set-aside payout operation closed by ops: the payout fails (nothing was posted). */
async function resolveSetAsidePayout(tx: Tx, payoutId: string): Promise<void> {
  const [payout] = await tx<PayoutRow[]>`select * from payouts where id = ${payoutId} for no key update`;
  if (!payout || !planPayout(payout)) return;
  const done = applyPayoutTransition(payout, "resolved", {
    now: new Date(),
    transactionId: null,
    amount: null,
    failure: PROCESSING_ERROR,
    holdTtlSeconds: 0,
  });
  await Promise.all([
    savePayouts(tx, [done.payout]),
    saveEvents(tx, payoutEventOf(done), await ownersOf(tx, [payout.from_account])),
  ]);
}

/**
 * What to do when a batch fails. `set_aside`: the failure belongs to one operation's data (a
 * malformed posting, a transition the state table refuses, a value or constraint Postgres rejects):
 * find that operation and set it aside. `retry_later`: anything else (the database or network,
 * contention, or a bug in code or schema that would fail every operation alike): the job retries
 * with backoff and the work waits in order, visible in the backlog, until it passes.
 */
export function postingFailureKind(err: unknown): "set_aside" | "retry_later" {
  if (err instanceof MalformedPostingError || err instanceof IllegalTransitionError) return "set_aside";
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "string" && /^(22|23)[0-9A-Z]{3}$/.test(code)) return "set_aside";
  return "retry_later";
}

/**
 * Finds the operation that makes `suspects` (pending, in acceptance order) fail, in O(log n)
 * transactions: post the older half; if it commits, the culprit is in the newer half, else in the
 * older. The half that commits stays committed, so order is kept. The one left is set aside, or
 * posted if it passes alone (the failure came from several together, e.g. a race that is gone).
 */
async function isolateFailure(
  services: Services,
  partition: number,
  suspects: string[],
  cause: unknown,
): Promise<number> {
  let failing = suspects;
  let provenAlone = false;
  let lastError = cause;
  let handled = 0;
  while (failing.length > 1 || !provenAlone) {
    const older = failing.length > 1 ? failing.slice(0, Math.ceil(failing.length / 2)) : failing;
    try {
      handled += (await postBatchOf(services, partition, older)).handled;
      if (older === failing) return handled; // the last suspect posts alone: nothing to set aside
      failing = failing.slice(older.length);
      provenAlone = false;
    } catch (err) {
      if (postingFailureKind(err) === "retry_later") throw err;
      failing = older;
      provenAlone = older.length === 1;
      lastError = err;
    }
  }
  return handled + (await setAside(services, partition, failing[0]!, lastError));
}

/**
 * Posts a partition's pending work until none is left (bounded, so one job cannot run forever).
 * A batch that fails is retried later or narrowed down to the one operation to set aside, by the
 * kind of its failure (postingFailureKind), so a single bad operation never blocks the work behind
 * it and costs a handful of transactions, not one per operation.
 */
export async function drainPartition(
  services: Services,
  partition: number,
  maxBatches = 50,
): Promise<number> {
  let total = 0;
  for (let i = 0; i < maxBatches; i++) {
    let handled: number;
    try {
      ({ handled } = await postBatchOf(services, partition));
    } catch (err) {
      if (postingFailureKind(err) === "retry_later") throw err;
      const suspects = await services.sql<{ id: string }[]>`
        select id from operations
         where status = 'pending' ${partitionFilter(services.sql, services, partition)}
         order by seq limit ${services.config.POSTING_BATCH_SIZE}`;
      if (suspects.length > 0) {
        total += await isolateFailure(
          services,
          partition,
          suspects.map((s) => s.id),
          err,
        );
      }
      continue; // look again rather than read a short batch as "drained"
    }
    total += handled;
    if (handled < services.config.POSTING_BATCH_SIZE) break;
  }
  await services.sql`
    insert into posting_partitions (partition, last_drained_at) values (${partition}, clock_timestamp())
    on conflict (partition) do update set last_drained_at = excluded.last_drained_at`;
  return total;
}

/** Posts exactly these pending operations (in acceptance order), for tools and tests. */
export async function postOperations(services: Services, partition: number, ids: string[]): Promise<number> {
  return (await postBatchOf(services, partition, ids)).handled;
}
