import type { Services } from "../context.ts";
import type { JobData } from "../jobs.ts";
import { type EventRow, eventObject } from "./events.ts";
import { webhookHeaders } from "./signature.ts";
import { type DeliveryResult, postWebhook } from "./ssrf.ts";

/**
 * One delivery attempt: the processor of a "deliver" job. Postgres holds the delivery's state (the
 * attempt that is due); the job only names it. So the attempt is idempotent: a job whose attempt
 * already happened (delivered, failed, or moved on to a later attempt) does nothing, and a job
 * re-run after its worker died mid-request sends the same event again with the same `webhook-id`
 * (receivers deduplicate on it). The attempt, its outcome and the next step are recorded in one
 * transaction; the next attempt's job is enqueued after COMMIT, and if that enqueue is lost the
 * pending-delivery reconciler makes it again.
 */

/** A receiver's Retry-After is honoured up to this; beyond it our own schedule applies. */
export const MAX_RETRY_AFTER_SECONDS = 24 * 3600;
/** Errors can be long (a DNS message, a stack of causes); the log keeps the start. */
const MAX_ERROR_LENGTH = 500;

export type DeliveryOutcome = "delivered" | "retry" | "failed" | "disabled" | "canceled";

interface DeliveryJobRow {
  id: string;
  status: string;
  attempt: number;
  event_id: string;
  endpoint_id: string;
  url: string;
  enabled: boolean;
  deleted_at: Date | null;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: Date | null;
  event_type: string;
  event_user_ids: string[];
  event_data: EventRow["data"];
  event_created_at: Date;
}

/**
 * How long to wait before the attempt after `attempt` (1-based), or null when the schedule is
 * exhausted. `schedule[i]` is the wait after attempt i+1, in seconds, with +-10% jitter so a
 * receiver that came back is not hit by every retry at once. A Retry-After longer than that wins
 * (capped at MAX_RETRY_AFTER_SECONDS).
 */
export function retryDelayMs(
  schedule: readonly number[],
  attempt: number,
  retryAfterSeconds: number | null,
  random: () => number = Math.random,
): number | null {
  const base = schedule[attempt - 1];
  if (base === undefined) return null;
  const jittered = base * 1000 * (0.9 + 0.2 * random());
  const asked = retryAfterSeconds === null ? 0 : Math.min(retryAfterSeconds, MAX_RETRY_AFTER_SECONDS) * 1000;
  return Math.round(Math.max(jittered, asked));
}

/** The secrets that sign now: the current one, and the previous one until it expires. */
export function activeSecrets(row: {
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: Date | null;
}): string[] {
  const { previous_secret: previous, previous_secret_expires_at: until } = row;
  return previous !== null && until !== null && until.getTime() > Date.now()
    ? [row.secret, previous]
    : [row.secret];
}

function errorText(result: DeliveryResult): string | null {
  if (result.error !== null) return result.error.slice(0, MAX_ERROR_LENGTH);
  return null;
}

/** Makes the attempt a "deliver" job names, if it is still due. Returns what happened. */
export async function deliverAttempt(
  services: Services,
  job: JobData<"deliver">,
): Promise<DeliveryOutcome | "skipped"> {
  const { sql, config, metrics } = services;
  const log = services.log.child({ delivery_id: job.deliveryId, attempt: job.attempt });
  const [row] = await sql<DeliveryJobRow[]>`
    select d.id, d.status, d.attempt, d.event_id, d.endpoint_id,
           w.url, w.enabled, w.deleted_at, w.secret, w.previous_secret, w.previous_secret_expires_at,
           e.type as event_type, e.user_ids as event_user_ids, e.data as event_data,
           e.created_at as event_created_at
      from webhook_deliveries d
      join webhook_endpoints w on w.id = d.endpoint_id
      join events e on e.id = d.event_id
     where d.id = ${job.deliveryId}`;
  if (row?.status !== "pending" || row.attempt !== job.attempt) {
    log.debug({ status: row?.status, due: row?.attempt }, "delivery attempt not due: nothing to do");
    return "skipped";
  }
  const dlog = log.child({ event_id: row.event_id, endpoint_id: row.endpoint_id });

  if (!row.enabled || row.deleted_at !== null) {
    const [canceled] = await sql`
      update webhook_deliveries set status = 'canceled', next_attempt_at = null, updated_at = clock_timestamp()
       where id = ${row.id} and status = 'pending' and attempt = ${job.attempt}
      returning id`;
    if (!canceled) return "skipped";
    metrics.webhookDeliveries.inc({ outcome: "canceled" });
    dlog.info("webhook delivery canceled: endpoint disabled or deleted");
    return "canceled";
  }

  const body = JSON.stringify(
    eventObject({
      id: row.event_id,
      type: row.event_type,
      user_ids: row.event_user_ids,
      data: row.event_data,
      created_at: row.event_created_at,
    }),
  );
  const headers = webhookHeaders({
    id: row.event_id,
    timestamp: Math.floor(Date.now() / 1000),
    body,
    secrets: activeSecrets(row),
  });
  const result = await postWebhook({
    url: row.url,
    headers,
    body,
    timeoutMs: config.WEBHOOK_TIMEOUT_MS,
    allowPrivate: config.WEBHOOK_ALLOW_PRIVATE_TARGETS,
  });

  const code = result.statusCode;
  const error = errorText(result);
  const delayMs =
    code !== null && ((code >= 200 && code < 300) || code === 410)
      ? null
      : retryDelayMs(config.WEBHOOK_RETRY_SCHEDULE, job.attempt, result.retryAfterSeconds);
  const outcome: DeliveryOutcome =
    code !== null && code >= 200 && code < 300
      ? "delivered"
      : code === 410
        ? "disabled"
        : delayMs === null
          ? "failed"
          : "retry";

  const recorded = await sql.begin(async (tx) => {
    const [current] = await tx<{ status: string; attempt: number }[]>`
      select status, attempt from webhook_deliveries where id = ${row.id} for no key update`;
    // Another run of this same attempt (a stalled job re-run while the first was still going)
    // recorded it first: its record stands.
    if (current?.status !== "pending" || current.attempt !== job.attempt) return false;
    await tx`
      insert into webhook_attempts (delivery_id, event_id, endpoint_id, attempt, status_code, error, duration_ms)
      values (${row.id}, ${row.event_id}, ${row.endpoint_id}, ${job.attempt}, ${code}, ${error},
              ${result.durationMs})
      on conflict (delivery_id, attempt) do nothing`;
    switch (outcome) {
      case "delivered":
        await tx`
          update webhook_deliveries set status = 'delivered', next_attempt_at = null,
                 delivered_at = clock_timestamp(), last_status_code = ${code}, last_error = null,
                 updated_at = clock_timestamp()
           where id = ${row.id}`;
        break;
      case "retry":
        await tx`
          update webhook_deliveries set attempt = attempt + 1,
                 next_attempt_at = clock_timestamp() + make_interval(secs => ${(delayMs ?? 0) / 1000}),
                 last_status_code = ${code}, last_error = ${error}, updated_at = clock_timestamp()
           where id = ${row.id}`;
        break;
      case "failed":
        await tx`
          update webhook_deliveries set status = 'failed', next_attempt_at = null,
                 last_status_code = ${code}, last_error = ${error}, updated_at = clock_timestamp()
           where id = ${row.id}`;
        break;
      case "disabled":
        await tx`
          update webhook_deliveries set status = 'failed', next_attempt_at = null,
                 last_status_code = ${code}, last_error = 'endpoint answered 410 Gone: endpoint disabled',
                 updated_at = clock_timestamp()
           where id = ${row.id}`;
        await tx`
          update webhook_endpoints set enabled = false,
                 disabled_reason = 'The endpoint answered 410 Gone.', updated_at = clock_timestamp()
           where id = ${row.endpoint_id} and enabled`;
        break;
    }
    return true;
  });
  if (!recorded) {
    dlog.info("delivery attempt already recorded by another run");
    return "skipped";
  }

  metrics.webhookDeliveries.inc({ outcome });
  const fields = { status_code: code, error, duration_ms: result.durationMs };
  if (outcome === "delivered") dlog.debug(fields, "webhook delivered");
  else if (outcome === "retry")
    dlog.info({ ...fields, retry_in_ms: delayMs }, "webhook attempt failed, will retry");
  else if (outcome === "disabled") dlog.warn(fields, "webhook endpoint answered 410: disabled");
  else dlog.warn(fields, "webhook delivery failed: retry schedule exhausted");

  if (outcome === "retry" && delayMs !== null) {
    await services.queues
      .enqueueDelivery({ id: row.id, attempt: job.attempt + 1, delayMs })
      .catch((err: unknown) =>
        dlog.warn({ err }, "could not enqueue the next attempt; the reconciler will pick it up"),
      );
  }
  return outcome;
}
