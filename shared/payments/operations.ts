import { audit } from "../audit.ts";
import type { Ctx, Services } from "../context.ts";
import type { Db } from "../db/index.ts";
import { ConflictError, NotFoundError } from "../errors.ts";
import { type IdempotentRequest, type IdempotentResult, idempotent } from "../idempotency.ts";
import { decodeCursor, type Page, pageOf } from "../pagination.ts";
import type { OperationRow } from "./plan.ts";
import { OPERATION_COLUMNS, recordMetrics, resolveSetAside } from "./posting.ts";
import type { Applied, OperationKind } from "./state.ts";

/**
 * What ops see of the posting pipeline, read from Postgres (the truth of what waits, whatever the
 * queues say), and what they may do about a set-aside operation: retry it or resolve it.
 */

export interface PartitionBacklog {
  partition: number;
  pending: number;
  oldest_pending_seconds: number | null;
  last_drained_at: string | null;
}

/** Pending work per partition (computed with this process's POSTING_PARTITIONS), 0..N-1. */
export async function postingBacklog(db: Db, partitions: number): Promise<PartitionBacklog[]> {
  const [pending, drained] = await Promise.all([
    db<{ partition: number; pending: number; oldest: number }[]>`
      select (order_key % ${partitions})::int as partition, count(*)::int as pending,
             extract(epoch from clock_timestamp() - min(created_at))::float8 as oldest
        from operations where status = 'pending' group by 1`,
    db<{ partition: number; last_drained_at: Date }[]>`
      select partition, last_drained_at from posting_partitions where partition < ${partitions}`,
  ]);
  const byPartition = new Map(pending.map((r) => [r.partition, r]));
  const drainedAt = new Map(drained.map((r) => [r.partition, r.last_drained_at]));
  return Array.from({ length: partitions }, (_, partition) => ({
    partition,
    pending: byPartition.get(partition)?.pending ?? 0,
    oldest_pending_seconds: byPartition.get(partition)?.oldest ?? null,
    last_drained_at: drainedAt.get(partition)?.toISOString() ?? null,
  }));
}

/** Set-aside operations waiting for ops to retry or resolve them (a partial index holds only those). */
export async function setAsideCount(db: Db): Promise<number> {
  const [row] = await db<{ n: number }[]>`select count(*)::int as n from operations where status = 'failed'`;
  return row?.n ?? 0;
}

export interface PipelineGauges {
  backlog: PartitionBacklog[];
  setAside: number;
  webhooksPending: number;
  webhookOldestPendingSeconds: number;
}

/** The numbers behind the backlog gauges: three cheap queries on partial indexes. */
export async function pipelineGauges(services: Services): Promise<PipelineGauges> {
  const [backlog, setAside, [webhooks]] = await Promise.all([
    postingBacklog(services.sql, services.config.POSTING_PARTITIONS),
    setAsideCount(services.sql),
    services.sql<{ n: number; oldest: number | null }[]>`
      select count(*)::int as n, extract(epoch from clock_timestamp() - min(created_at))::float8 as oldest
        from webhook_deliveries where status = 'pending'`,
  ]);
  return {
    backlog,
    setAside,
    webhooksPending: webhooks?.n ?? 0,
    webhookOldestPendingSeconds: webhooks?.oldest ?? 0,
  };
}

/**
 * Operations in the outbox: waiting to post, set aside for ops ('failed'), closed by ops without
 * posting ('resolved'), or posted after ops retried them ('done'). Any other operation is deleted
 * by the transaction that posts it (migration 018): its outcome is the payment's.
 */
export const OPERATION_STATUSES = ["pending", "done", "failed", "resolved"] as const;
export type OperationStatus = (typeof OPERATION_STATUSES)[number];

interface OperationListRow extends OperationRow {
  status: OperationStatus;
  error: string | null;
  created_at: Date;
  set_aside_at: Date | null;
  retries: number;
  resolved_at: Date | null;
  resolved_by: string | null;
  resolution: string | null;
}

export interface OperationObject {
  object: "operation";
  id: string;
  kind: OperationKind;
  status: OperationStatus;
  payment_id: string | null;
  payout_id: string | null;
  refund_id: string | null;
  error: string | null;
  retries: number;
  created_at: string;
  set_aside_at: string | null;
  resolved_at: string | null;
  resolved_by: string | null;
  resolution: string | null;
}

function operationObject(r: OperationListRow): OperationObject {
  return {
    object: "operation",
    id: r.id,
    kind: r.kind,
    status: r.status,
    payment_id: r.payment_id,
    payout_id: r.payout_id,
    refund_id: r.refund_id,
    error: r.error,
    retries: r.retries,
    created_at: r.created_at.toISOString(),
    set_aside_at: r.set_aside_at?.toISOString() ?? null,
    resolved_at: r.resolved_at?.toISOString() ?? null,
    resolved_by: r.resolved_by,
    resolution: r.resolution,
  };
}

const OPERATION_ID = /^op_[0-9A-Za-z_]{1,60}$/;
const LIST_COLUMNS = [
  ...OPERATION_COLUMNS,
  "status",
  "error",
  "created_at",
  "set_aside_at",
  "retries",
  "resolved_at",
  "resolved_by",
  "resolution",
];

/** Operations by status, newest first (by acceptance order), with a cursor. */
export async function listOperations(
  db: Db,
  input: { status: OperationStatus; limit: number; cursor?: string | undefined },
): Promise<Page<OperationObject>> {
  const before = decodeCursor(input.cursor, /^\d{1,19}$/);
  const rows = await db<OperationListRow[]>`
    select ${db(LIST_COLUMNS)} from operations
     where status = ${input.status} ${before ? db`and seq < ${before}::bigint` : db``}
     order by seq desc
     limit ${input.limit + 1}`;
  return pageOf(rows, input.limit, (r) => r.seq, operationObject);
}

/** Locks a set-aside operation for an ops action: 404 unknown, 409 when it is not set aside. */
async function lockSetAside(db: Db, id: string, verb: string): Promise<OperationListRow> {
  const [op] = OPERATION_ID.test(id)
    ? await db<OperationListRow[]>`select ${db(LIST_COLUMNS)} from operations where id = ${id} for update`
    : [];
  if (!op) throw new NotFoundError("operation", "operation_not_found");
  if (op.status !== "failed") {
    throw new ConflictError(
      "operation_not_set_aside",
      `Only a set-aside operation can be ${verb}; this one is ${op.status}.`,
    );
  }
  return op;
}

/**
 * POST /ops/operations/{id}/retry: the operation goes back to pending, in its place in the order
 * (it keeps its sequence number), and its partition is nudged. Audited in the same transaction.
 */
export function retryOperation(
  ctx: Ctx,
  id: string,
  req: IdempotentRequest,
  requestId: string | null,
): Promise<IdempotentResult> {
  return idempotent(ctx, req, async (tx, afterCommit) => {
    const before = await lockSetAside(tx, id, "retried");
    const [after] = await tx<OperationListRow[]>`
      update operations set status = 'pending', error = null, done_at = null, set_aside_at = null,
                            retries = retries + 1
       where id = ${id}
      returning ${tx(LIST_COLUMNS)}`;
    await audit(tx, {
      actor: ctx.principal,
      action: "operation.retry",
      target: { type: "operation", id },
      requestId,
      before: { status: before.status, error: before.error },
      after: { status: after!.status, retries: after!.retries },
    });
    const partition = Number(after!.order_key % BigInt(ctx.config.POSTING_PARTITIONS));
    afterCommit(() => ctx.queues.nudgePosting(partition));
    return { status: 200, body: operationObject(after!) };
  });
}

/**
 * POST /ops/operations/{id}/resolve: closes a set-aside operation without posting it, with a
 * reason: its payment fails (or its refund; a hold becomes capturable or cancelable again), with
 * the events its parties expect. Audited in the same transaction.
 */
export async function resolveOperation(
  ctx: Ctx,
  id: string,
  reason: string,
  req: IdempotentRequest,
  requestId: string | null,
): Promise<IdempotentResult> {
  let applied: Applied | null = null;
  const result = await idempotent(ctx, req, async (tx) => {
    const before = await lockSetAside(tx, id, "resolved");
    applied = await resolveSetAside(tx, ctx, before);
    const [after] = await tx<OperationListRow[]>`
      update operations set status = 'resolved', resolved_at = clock_timestamp(), resolved_by = ${ctx.principal.userId},
                            resolution = ${reason}
       where id = ${id}
      returning ${tx(LIST_COLUMNS)}`;
    await audit(tx, {
      actor: ctx.principal,
      action: "operation.resolve",
      target: { type: "operation", id },
      requestId,
      before: { status: before.status, error: before.error },
      after: { status: after!.status, resolution: reason, payment_status: applied?.payment.status ?? null },
    });
    return { status: 200, body: operationObject(after!) };
  });
  if (applied) recordMetrics(ctx, [applied]);
  return result;
}
