import type { Services } from "../context.ts";
import type { Tx } from "../db/index.ts";
import { newId } from "../ids.ts";
import { type PostingInput, type PostingResult, postBatch, systemAccountNumber } from "../ledger/index.ts";
import { type PaymentObject, paymentObject } from "./serialize.ts";
import type { PaymentRow } from "./types.ts";

/**
 * The posting engine. Work is claimed from the `operations` outbox of one partition in acceptance
 * order, planned against the payments' current state, and posted in ONE database transaction
 * together with the payments' new states, their events and the operations marked done. A crash at
 * any point rolls the whole batch back; running the same work twice finds it done.
 */

/** Advisory lock class for partitions: at most one poster per partition, whatever BullMQ does. */
const PARTITION_LOCK_CLASS = 727_274;

export type OperationKind = "payment" | "capture" | "cancel" | "expire" | "refund";

export interface OperationRow {
  id: string;
  seq: bigint;
  partition: number;
  kind: OperationKind;
  payment_id: string;
  refund_id: string | null;
  amount: bigint | null;
}

export interface EventDraft {
  type: string;
  paymentId: string;
  refundId: string | null;
  /** Accounts whose owners may see the event. */
  accounts: string[];
  object: unknown;
}

/** What one operation wants: a ledger posting (or none) and what to record for each outcome. */
export interface Plan {
  posting: PostingInput | null;
  /** Applied in memory to the batch state when the posting went through (or when there is none). */
  onPosted(result: { transactionId: string | null; now: Date }): EventDraft[];
  onDeclined(result: { code: string; message: string; now: Date }): EventDraft[];
}

export interface BatchState {
  payments: Map<string, PaymentRow>;
  dirtyPayments: Set<string>;
  services: Services;
  tx: Tx;
}

/** Extension point: refunds and holds register their planners here. */
export type Planner = (op: OperationRow, state: BatchState) => Promise<Plan | null> | Plan | null;
const planners = new Map<OperationKind, Planner>();
export function registerPlanner(kind: OperationKind, planner: Planner): void {
  planners.set(kind, planner);
}

export function paymentEvent(type: string, p: PaymentRow): EventDraft {
  return {
    type,
    paymentId: p.id,
    refundId: null,
    accounts: [p.from_account, p.to_account],
    object: paymentObject(p) satisfies PaymentObject,
  };
}

function holds(p: PaymentRow): string {
  return systemAccountNumber("holds", p.currency);
}

/** A new payment: posted straight to the payee, or (manual capture) authorized into holds. */
const planPayment: Planner = (op, state) => {
  const p = state.payments.get(op.payment_id);
  if (p?.status !== "pending") return null; // already posted by an earlier run: nothing to do
  const finish = (now: Date) => {
    state.dirtyPayments.add(p.id);
    p.updated_at = now;
    state.services.metrics.postingSeconds.observe((now.getTime() - p.created_at.getTime()) / 1000);
  };
  const declined: Plan["onDeclined"] = ({ code, message, now }) => {
    finish(now);
    Object.assign(p, { status: "failed", failure_code: code, failure_message: message, completed_at: now });
    state.services.metrics.paymentDeclines.inc({ code });
    state.services.metrics.paymentsCompleted.inc({ status: "failed" });
    return [paymentEvent("payment.failed", p)];
  };
  if (p.capture_method === "manual") {
    return {
      posting: {
        kind: "authorization",
        reference: `authorization:${p.id}`,
        paymentId: p.id,
        description: p.description,
        legs: [
          { account: p.from_account, direction: "DEBIT", amount: p.amount },
          { account: holds(p), direction: "CREDIT", amount: p.amount },
        ],
        holdChanges: [{ account: p.from_account, delta: p.amount }],
      },
      onPosted: ({ transactionId, now }) => {
        finish(now);
        Object.assign(p, {
          status: "requires_capture",
          amount_capturable: p.amount,
          transaction_id: transactionId,
          hold_expires_at: new Date(now.getTime() + state.services.config.HOLD_TTL_SECONDS * 1000),
        });
        state.services.metrics.paymentsCompleted.inc({ status: "requires_capture" });
        return [paymentEvent("payment.requires_capture", p)];
      },
      onDeclined: declined,
    };
  }
  return {
    posting: {
      kind: p.type,
      reference: `payment:${p.id}`,
      paymentId: p.id,
      description: p.description,
      legs: [
        { account: p.from_account, direction: "DEBIT", amount: p.amount },
        { account: p.to_account, direction: "CREDIT", amount: p.amount },
      ],
    },
    onPosted: ({ transactionId, now }) => {
      finish(now);
      Object.assign(p, {
        status: "succeeded",
        amount_captured: p.amount,
        transaction_id: transactionId,
        completed_at: now,
      });
      state.services.metrics.paymentsCompleted.inc({ status: "succeeded" });
      return [paymentEvent("payment.succeeded", p)];
    },
    onDeclined: declined,
  };
};
registerPlanner("payment", planPayment);

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
      updated_at = u.updated_at
    from unnest(
      ${col((p) => p.id)}::text[], ${col((p) => p.status)}::text[],
      ${col((p) => str(p.amount_capturable))}::bigint[], ${col((p) => str(p.amount_captured))}::bigint[],
      ${col((p) => str(p.amount_refunded))}::bigint[], ${col((p) => p.failure_code)}::text[],
      ${col((p) => p.failure_message)}::text[], ${col((p) => p.transaction_id)}::text[],
      ${col((p) => p.hold_expires_at?.toISOString() ?? null)}::timestamptz[],
      ${col((p) => p.completed_at?.toISOString() ?? null)}::timestamptz[],
      ${col((p) => p.updated_at.toISOString())}::timestamptz[]
    ) as u(id, status, amount_capturable, amount_captured, amount_refunded, failure_code, failure_message,
           transaction_id, hold_expires_at, completed_at, updated_at)
    where p.id = u.id`;
}

async function saveEvents(tx: Tx, drafts: EventDraft[]): Promise<void> {
  if (drafts.length === 0) return;
  const accounts = [...new Set(drafts.flatMap((d) => d.accounts))];
  const owners = new Map(
    (
      await tx<{ account_number: string; owner_id: string | null }[]>`
        select account_number, owner_id from accounts where account_number = any(${accounts}::text[])`
    ).map((r) => [r.account_number, r.owner_id]),
  );
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

/** Claims and posts one batch of a partition. Returns how many operations it handled. */
export async function postOneBatch(services: Services, partition: number): Promise<number> {
  const { sql, config } = services;
  return sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${PARTITION_LOCK_CLASS}, ${partition})`;
    const ops = await tx<OperationRow[]>`
      select id, seq, partition, kind, payment_id, refund_id, amount from operations
       where partition = ${partition} and status = 'pending'
       order by seq
       limit ${config.POSTING_BATCH_SIZE}
         for update skip locked`;
    if (ops.length === 0) return 0;
    const paymentIds = [...new Set(ops.map((o) => o.payment_id))];
    const payments = await tx<PaymentRow[]>`
      select * from payments where id = any(${paymentIds}::text[]) order by id for no key update`;
    const state: BatchState = {
      payments: new Map(payments.map((p) => [p.id, p])),
      dirtyPayments: new Set(),
      services,
      tx,
    };
    const plans: (Plan | null)[] = [];
    for (const op of ops) {
      const planner = planners.get(op.kind);
      if (!planner) throw new Error(`no planner for operation kind ${op.kind}`);
      plans.push(await planner(op, state));
    }
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
    await savePayments(
      tx,
      [...state.dirtyPayments].map((id) => state.payments.get(id)!),
    );
    await saveEvents(tx, events);
    await tx`update operations set status = 'done', done_at = clock_timestamp() where id = any(${ops.map((o) => o.id)}::text[])`;
    services.metrics.postingBatchSize.observe(ops.length);
    return ops.length;
  });
}

/** Posts a partition's pending work until none is left (bounded, so one job cannot run forever). */
export async function drainPartition(
  services: Services,
  partition: number,
  maxBatches = 50,
): Promise<number> {
  let total = 0;
  for (let i = 0; i < maxBatches; i++) {
    const n = await postOneBatch(services, partition);
    total += n;
    if (n < services.config.POSTING_BATCH_SIZE) break;
  }
  return total;
}
