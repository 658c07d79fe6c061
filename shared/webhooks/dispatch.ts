import type { Ctx, Services } from "../context.ts";
import type { Tx } from "../db/index.ts";
import { newId } from "../ids.ts";
import { deliveryJobId } from "../jobs.ts";
import { findVisibleEvent } from "./events.ts";

/**
 * From events to delivery jobs, never losing one:
 * - an event that no endpoint could receive when it is written is written dispatched
 *   (saveEvents, shared/payments/posting.ts), so the dispatcher only sees events with a candidate.
 * - the dispatcher claims undispatched events (FOR ... SKIP LOCKED, so any number of worker
 *   processes share the work), inserts one delivery per matching endpoint and marks the events
 *   dispatched, all in one transaction, and enqueues the jobs after COMMIT. An event written while
 *   Redis was away is dispatched all the same: the dispatcher reads Postgres, not the queue.
 * - the reconciler re-enqueues pending deliveries whose attempt is overdue and which no queue job
 *   is handling (lost enqueue, Redis wiped, a job that failed on an unexpected error).
 * Duplicated jobs are harmless: a delivery attempt runs only while it is the one due.
 */

/** Events claimed per dispatcher transaction. */
const DISPATCH_BATCH = 200;
/** Transactions per dispatcher pass, so one pass cannot run forever under a flood. */
const DISPATCH_MAX_BATCHES = 10;
/** Overdue deliveries checked per reconciler pass, and how many job lookups run at once. */
const RECONCILE_LIMIT = 500;
const RECONCILE_CONCURRENCY = 25;

export interface DeliveryRow {
  id: string;
  event_id: string;
  endpoint_id: string;
  series: number;
  status: string;
  attempt: number;
  next_attempt_at: Date | null;
  created_at: Date;
}

export function deliveryObject(d: DeliveryRow) {
  return {
    id: d.id,
    object: "webhook_delivery" as const,
    event_id: d.event_id,
    endpoint_id: d.endpoint_id,
    status: d.status as "pending" | "delivered" | "failed" | "canceled",
    attempt: d.attempt,
    next_attempt_at: d.next_attempt_at?.toISOString() ?? null,
    created_at: d.created_at.toISOString(),
  };
}

export type DeliveryObject = ReturnType<typeof deliveryObject>;

/** Inserts deliveries (first attempt due now); pairs that already have this series are skipped. */
async function insertDeliveries(
  tx: Tx,
  pairs: { event_id: string; endpoint_id: string; series: number }[],
): Promise<DeliveryRow[]> {
  if (pairs.length === 0) return [];
  return tx<DeliveryRow[]>`
    insert into webhook_deliveries (id, event_id, endpoint_id, series, next_attempt_at)
    select x.id, x.event_id, x.endpoint_id, x.series, clock_timestamp()
      from unnest(${pairs.map(() => newId("whd"))}::text[], ${pairs.map((p) => p.event_id)}::text[],
                  ${pairs.map((p) => p.endpoint_id)}::text[], ${pairs.map((p) => p.series)}::int[])
        as x(id, event_id, endpoint_id, series)
    on conflict (event_id, endpoint_id, series) do nothing
    returning id, event_id, endpoint_id, series, status, attempt, next_attempt_at, created_at`;
}

/** Enqueues first attempts after COMMIT; a failure is left to the reconciler. */
async function enqueueFirstAttempts(services: Services, rows: DeliveryRow[]): Promise<void> {
  const results = await Promise.allSettled(
    rows.map((d) => services.queues.enqueueDelivery({ id: d.id, attempt: d.attempt })),
  );
  const failed = results.filter((r) => r.status === "rejected").length;
  if (failed > 0) {
    services.log.warn({ failed }, "could not enqueue webhook deliveries; the reconciler will pick them up");
  }
}

/** One dispatcher transaction. Returns how many events it claimed and the deliveries it made. */
async function dispatchBatch(services: Services): Promise<{ events: number; deliveries: DeliveryRow[] }> {
  return services.sql.begin(async (tx) => {
    const events = await tx<{ id: string }[]>`
      select id from events where dispatched_at is null
       order by created_at
       limit ${DISPATCH_BATCH}
         for no key update skip locked`;
    if (events.length === 0) return { events: 0, deliveries: [] };
    const ids = events.map((e) => e.id);
    // Endpoints of the event's parties, enabled, subscribed to its type, and not newer than the
    // event (a new endpoint receives what happens from then on, not a backlog).
    const pairs = await tx<{ event_id: string; endpoint_id: string }[]>`
      select e.id as event_id, w.id as endpoint_id
        from events e
        join webhook_endpoints w
          on w.user_id = any(e.user_ids)
         and webhook_endpoint_receives(w, e.type)
         and w.created_at <= e.created_at
       where e.id = any(${ids}::text[])`;
    const deliveries = await insertDeliveries(
      tx,
      pairs.map((p) => ({ ...p, series: 0 })),
    );
    await tx`update events set dispatched_at = clock_timestamp() where id = any(${ids}::text[])`;
    return { events: events.length, deliveries };
  });
}

/** Dispatches every undispatched event (in bounded batches). Returns the deliveries made. */
export async function dispatchEvents(services: Services): Promise<number> {
  let made = 0;
  for (let i = 0; i < DISPATCH_MAX_BATCHES; i++) {
    const { events, deliveries } = await dispatchBatch(services);
    await enqueueFirstAttempts(services, deliveries);
    made += deliveries.length;
    if (events < DISPATCH_BATCH) break;
  }
  if (made > 0) services.log.debug({ deliveries: made }, "webhook deliveries dispatched");
  return made;
}

/**
 * Sends a visible event again: a new delivery (a new attempt series) to each of the caller's
 * enabled endpoints subscribed to its type; for ops and admin, to every such endpoint of the
 * event's parties. Returns the deliveries made (none when no endpoint matches).
 */
export async function redeliverEvent(ctx: Ctx, eventId: string): Promise<DeliveryObject[]> {
  const rows = await ctx.sql.begin(async (tx) => {
    // The row lock serializes redeliveries of one event, so series numbers never collide.
    const event = await findVisibleEvent(ctx, tx, eventId, true);
    const onlyOwn = ctx.principal.role !== "ops" && ctx.principal.role !== "admin";
    const endpoints = await tx<{ endpoint_id: string; series: number }[]>`
      select w.id as endpoint_id,
             coalesce((select max(d.series) + 1 from webhook_deliveries d
                        where d.event_id = ${event.id} and d.endpoint_id = w.id), 0)::int as series
        from webhook_endpoints w
       where w.user_id = any(${event.user_ids}::text[])
         and webhook_endpoint_receives(w, ${event.type}::text)
         ${onlyOwn ? tx`and w.user_id = ${ctx.principal.userId}` : tx``}
       order by w.id`;
    return insertDeliveries(
      tx,
      endpoints.map((e) => ({ event_id: event.id, endpoint_id: e.endpoint_id, series: e.series })),
    );
  });
  await enqueueFirstAttempts(ctx, rows);
  ctx.log.info({ event_id: eventId, deliveries: rows.map((r) => r.id) }, "event redelivery requested");
  return rows.map(deliveryObject);
}

/**
 * Re-enqueues pending deliveries whose due attempt is overdue by more than the grace period and
 * that no live job is handling: no job at all (lost enqueue, Redis wiped), a failed job (it met an
 * unexpected error more often than its retries allow) or a completed one (should not happen; the
 * row is the truth). Waiting, delayed and active jobs are left alone: a killed worker's active job
 * comes back through BullMQ's stalled-job check.
 */
export async function reconcileDeliveries(services: Services): Promise<number> {
  const { sql, queues, config, log } = services;
  const overdue = await sql<{ id: string; attempt: number }[]>`
    select id, attempt from webhook_deliveries
     where status = 'pending'
       and next_attempt_at < clock_timestamp() - make_interval(secs => ${config.RECONCILE_GRACE_MS / 1000})
     order by next_attempt_at
     limit ${RECONCILE_LIMIT}`;
  let requeued = 0;
  for (let i = 0; i < overdue.length; i += RECONCILE_CONCURRENCY) {
    await Promise.all(
      overdue.slice(i, i + RECONCILE_CONCURRENCY).map(async (d) => {
        try {
          const job = await queues.webhooks.getJob(deliveryJobId(d.id, d.attempt));
          const state = job ? await job.getState() : "missing";
          if (state === "failed" && job) {
            await job.retry("failed");
          } else if (state === "missing" || state === "unknown" || state === "completed") {
            if (job) await job.remove();
            await queues.enqueueDelivery({ id: d.id, attempt: d.attempt });
          } else {
            return;
          }
          requeued += 1;
        } catch (err) {
          log.warn({ err, delivery_id: d.id }, "could not re-enqueue an overdue webhook delivery");
        }
      }),
    );
  }
  if (requeued > 0) log.info({ requeued }, "reconciler re-enqueued overdue webhook deliveries");
  return requeued;
}
