import { audit, byCaller } from "../audit.ts";
import type { Ctx, Principal } from "../context.ts";
import type { Db, Tx } from "../db/index.ts";
import { NotFoundError, ValidationError } from "../errors.ts";
import { newId } from "../ids.ts";
import { decodeCursor, type Page, pageOf } from "../pagination.ts";
import type { EventType } from "./events.ts";
import { generateWebhookSecret } from "./signature.ts";
import { assertPublicUrl } from "./ssrf.ts";

/**
 * Webhook endpoints: where a user wants their events POSTed. Any role may own endpoints (they
 * receive events about their own payments); only the owner, or an admin, sees or changes one:
 * for anyone else it does not exist (404). The signing secret is returned only when it is made
 * (create, rotate-secret), never by a read, and never logged. Every change appends to the audit
 * log in its own transaction, with the endpoint as `endpointObject` shows it (never a secret).
 */

/** After a rotation the previous secret keeps signing alongside the new one this long. */
export const PREVIOUS_SECRET_TTL_HOURS = 24;
/** Per owner, like Stripe's limit: enough for real use, bounded fan-out per event. */
export const MAX_ENDPOINTS_PER_USER = 16;
/** Serializes endpoint creation per owner, so the limit above holds under concurrency. */
const ENDPOINT_LOCK_CLASS = 727_275;
const ENDPOINT_ID = /^we_[0-9A-Z]{26}$/;
const ATTEMPT_ID = /^[1-9]\d{0,18}$/;

export type EventFilter = EventType | "*";

export interface EndpointRow {
  id: string;
  user_id: string;
  url: string;
  events: string[];
  description: string | null;
  enabled: boolean;
  disabled_reason: string | null;
  previous_secret_expires_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

/** Everything but the secrets: what reads select. */
function columns(db: Db) {
  return db`id, user_id, url, events, description, enabled, disabled_reason, previous_secret_expires_at,
            created_at, updated_at`;
}

/** The public endpoint object (no secret). */
export function endpointObject(e: EndpointRow) {
  return {
    id: e.id,
    object: "webhook_endpoint" as const,
    url: e.url,
    events: e.events as EventFilter[],
    description: e.description,
    enabled: e.enabled,
    disabled_reason: e.disabled_reason,
    previous_secret_expires_at: e.previous_secret_expires_at?.toISOString() ?? null,
    created_at: e.created_at.toISOString(),
    updated_at: e.updated_at.toISOString(),
  };
}

export type EndpointObject = ReturnType<typeof endpointObject>;
export type EndpointWithSecret = EndpointObject & { secret: string };

/** Admins manage every endpoint; everyone else only their own. */
function managesAll(p: Principal): boolean {
  return p.role === "admin";
}

function auditEndpoint(
  ctx: Ctx,
  tx: Tx,
  verb: "create" | "update" | "delete" | "rotate_secret",
  id: string,
  change: { before?: EndpointObject; after?: EndpointObject },
) {
  return audit(tx, {
    ...byCaller(ctx),
    action: `webhook_endpoint.${verb}`,
    target: { type: "webhook_endpoint", id },
    ...change,
  });
}

function scope(ctx: Ctx, db: Db) {
  return managesAll(ctx.principal) ? db`` : db`and user_id = ${ctx.principal.userId}`;
}

/** Distinct types in the given order; "*" (every type) only on its own. */
function normalizeEvents(events: readonly EventFilter[]): EventFilter[] {
  const unique = [...new Set(events)];
  if (unique.length === 0) {
    throw ValidationError.field("/events", 'List at least one event type, or "*" for all.');
  }
  if (unique.includes("*") && unique.length > 1) {
    throw ValidationError.field("/events", '"*" already means every event type; list it alone.');
  }
  return unique;
}

/** The URL as stored: validated (SSRF guard, unless private targets are allowed) and normalized. */
async function checkedUrl(ctx: Ctx, url: string): Promise<string> {
  const parsed = await assertPublicUrl(url, { allowPrivate: ctx.config.WEBHOOK_ALLOW_PRIVATE_TARGETS });
  return parsed.href;
}

async function findForUpdate(ctx: Ctx, tx: Tx, id: string): Promise<EndpointRow> {
  const [row] = await tx<EndpointRow[]>`
    select ${columns(tx)} from webhook_endpoints
     where id = ${id} and deleted_at is null ${scope(ctx, tx)}
       for no key update`;
  if (!row) throw new NotFoundError("webhook endpoint", "webhook_endpoint_not_found");
  return row;
}

export interface CreateEndpointInput {
  url: string;
  events: EventFilter[];
  description?: string | null;
}

export async function createEndpoint(ctx: Ctx, input: CreateEndpointInput): Promise<EndpointWithSecret> {
  const events = normalizeEvents(input.events);
  const url = await checkedUrl(ctx, input.url);
  const secret = generateWebhookSecret();
  const row = await ctx.sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${ENDPOINT_LOCK_CLASS}, hashtext(${ctx.principal.userId}))`;
    const [count] = await tx<{ n: number }[]>`
      select count(*)::int as n from webhook_endpoints where user_id = ${ctx.principal.userId} and deleted_at is null`;
    if ((count?.n ?? 0) >= MAX_ENDPOINTS_PER_USER) {
      throw new ValidationError(
        "webhook_endpoint_limit_reached",
        `You already have ${MAX_ENDPOINTS_PER_USER} webhook endpoints; delete one first.`,
      );
    }
    const [inserted] = await tx<EndpointRow[]>`
      insert into webhook_endpoints (id, user_id, url, events, description, secret)
      values (${newId("we")}, ${ctx.principal.userId}, ${url}, ${events}::text[],
              ${input.description ?? null}, ${secret})
      returning ${columns(tx)}`;
    if (!inserted) throw new Error("insert returned no row");
    await auditEndpoint(ctx, tx, "create", inserted.id, { after: endpointObject(inserted) });
    return inserted;
  });
  ctx.log.info({ endpoint_id: row.id }, "webhook endpoint created");
  return { ...endpointObject(row), secret };
}

export async function getEndpoint(ctx: Ctx, id: string): Promise<EndpointObject> {
  const [row] = await ctx.sql<EndpointRow[]>`
    select ${columns(ctx.sql)} from webhook_endpoints
     where id = ${id} and deleted_at is null ${scope(ctx, ctx.sql)}`;
  if (!row) throw new NotFoundError("webhook endpoint", "webhook_endpoint_not_found");
  return endpointObject(row);
}

/** The caller's endpoints (admin: all), newest first. */
export async function listEndpoints(
  ctx: Ctx,
  input: { limit: number; cursor?: string },
): Promise<Page<EndpointObject>> {
  const before = decodeCursor(input.cursor, ENDPOINT_ID);
  const { sql } = ctx;
  const rows = await sql<EndpointRow[]>`
    select ${columns(sql)} from webhook_endpoints
     where deleted_at is null ${scope(ctx, sql)}
       ${before ? sql`and id < ${before}` : sql``}
     order by id desc
     limit ${input.limit + 1}`;
  return pageOf(rows, input.limit, (r) => r.id, endpointObject);
}

export interface UpdateEndpointInput {
  url?: string;
  events?: EventFilter[];
  description?: string | null;
  enabled?: boolean;
}

/**
 * Changes what is given, leaves the rest. Re-enabling clears `disabled_reason` (an endpoint
 * disabled after a 410 comes back this way); disabling stops new deliveries, and pending retries
 * are canceled when they come due unless it is enabled again by then.
 */
export async function updateEndpoint(
  ctx: Ctx,
  id: string,
  input: UpdateEndpointInput,
): Promise<EndpointObject> {
  const events = input.events === undefined ? null : normalizeEvents(input.events);
  const url = input.url === undefined ? null : await checkedUrl(ctx, input.url);
  const hasDescription = input.description !== undefined;
  const enabled = input.enabled ?? null;
  const row = await ctx.sql.begin(async (tx) => {
    const current = await findForUpdate(ctx, tx, id);
    const [updated] = await tx<EndpointRow[]>`
      update webhook_endpoints set
        url = coalesce(${url}::text, url),
        events = coalesce(${events}::text[], events),
        description = case when ${hasDescription}::boolean then ${input.description ?? null}::text else description end,
        disabled_reason = case
          when ${enabled}::boolean is null then disabled_reason
          when ${enabled}::boolean then null
          when enabled then 'Disabled by its owner.'
          else disabled_reason end,
        enabled = coalesce(${enabled}::boolean, enabled),
        updated_at = clock_timestamp()
       where id = ${id}
      returning ${columns(tx)}`;
    if (!updated) throw new Error("update returned no row");
    await auditEndpoint(ctx, tx, "update", id, {
      before: endpointObject(current),
      after: endpointObject(updated),
    });
    return updated;
  });
  ctx.log.info({ endpoint_id: id }, "webhook endpoint updated");
  return endpointObject(row);
}

/**
 * Deletes an endpoint (soft: its delivery log stays) and cancels its pending deliveries in the
 * same transaction, so no retry of it is ever sent. Deleting it again is a 404, as with Stripe.
 */
export async function deleteEndpoint(
  ctx: Ctx,
  id: string,
): Promise<{ id: string; object: "webhook_endpoint"; deleted: true }> {
  const canceled = await ctx.sql.begin(async (tx) => {
    const current = await findForUpdate(ctx, tx, id);
    await tx`update webhook_endpoints set deleted_at = clock_timestamp(), updated_at = clock_timestamp() where id = ${id}`;
    const rows = await tx`
      update webhook_deliveries set status = 'canceled', next_attempt_at = null, updated_at = clock_timestamp()
       where endpoint_id = ${id} and status = 'pending'
      returning id`;
    await auditEndpoint(ctx, tx, "delete", id, { before: endpointObject(current) });
    return rows.length;
  });
  if (canceled > 0) ctx.metrics.webhookDeliveries.inc({ outcome: "canceled" }, canceled);
  ctx.log.info({ endpoint_id: id, canceled_deliveries: canceled }, "webhook endpoint deleted");
  return { id, object: "webhook_endpoint", deleted: true };
}

/**
 * A new signing secret, shown once. The one it replaces keeps signing alongside it for
 * PREVIOUS_SECRET_TTL_HOURS (two signatures in `webhook-signature`), so the receiver can deploy
 * the new one without failing a delivery. Rotating again within that window retires the oldest
 * at once: at most two secrets are ever active.
 */
export async function rotateEndpointSecret(ctx: Ctx, id: string): Promise<EndpointWithSecret> {
  const secret = generateWebhookSecret();
  const row = await ctx.sql.begin(async (tx) => {
    const current = await findForUpdate(ctx, tx, id);
    const [updated] = await tx<EndpointRow[]>`
      update webhook_endpoints set
        previous_secret = secret,
        previous_secret_expires_at = clock_timestamp() + make_interval(hours => ${PREVIOUS_SECRET_TTL_HOURS}),
        secret = ${secret},
        updated_at = clock_timestamp()
       where id = ${id}
      returning ${columns(tx)}`;
    if (!updated) throw new Error("update returned no row");
    await auditEndpoint(ctx, tx, "rotate_secret", id, {
      before: endpointObject(current),
      after: endpointObject(updated),
    });
    return updated;
  });
  ctx.log.info({ endpoint_id: id }, "webhook endpoint secret rotated");
  return { ...endpointObject(row), secret };
}

interface AttemptRow {
  id: bigint;
  delivery_id: string;
  event_id: string;
  attempt: number;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
  created_at: Date;
}

export function attemptObject(a: AttemptRow) {
  return {
    delivery_id: a.delivery_id,
    event_id: a.event_id,
    attempt: a.attempt,
    status_code: a.status_code,
    error: a.error,
    duration_ms: a.duration_ms,
    created_at: a.created_at.toISOString(),
  };
}

export type AttemptObject = ReturnType<typeof attemptObject>;

/** Every delivery attempt made to the endpoint, newest first. */
export async function listEndpointAttempts(
  ctx: Ctx,
  id: string,
  input: { limit: number; cursor?: string },
): Promise<Page<AttemptObject>> {
  await getEndpoint(ctx, id);
  const before = decodeCursor(input.cursor, ATTEMPT_ID);
  const { sql } = ctx;
  const rows = await sql<AttemptRow[]>`
    select id, delivery_id, event_id, attempt, status_code, error, duration_ms, created_at
      from webhook_attempts
     where endpoint_id = ${id}
       ${before ? sql`and id < ${before}::bigint` : sql``}
     order by id desc
     limit ${input.limit + 1}`;
  return pageOf(rows, input.limit, (r) => r.id, attemptObject);
}

export interface FailingEndpoint {
  id: string;
  url: string;
  user_id: string;
  failed: number;
  retrying: number;
  last_error: string | null;
  last_at: Date;
}

/** Endpoints with deliveries that failed for good, or are being retried, in the last day. */
export async function failingEndpoints(db: Db): Promise<FailingEndpoint[]> {
  return db<FailingEndpoint[]>`
    select e.id, e.url, e.user_id,
           count(*) filter (where d.status = 'failed')::int as failed,
           count(*) filter (where d.status = 'pending')::int as retrying,
           (array_agg(d.last_error order by d.updated_at desc))[1] as last_error,
           max(d.updated_at) as last_at
      from webhook_deliveries d join webhook_endpoints e on e.id = d.endpoint_id
     where d.updated_at > clock_timestamp() - interval '24 hours'
       and (d.status = 'failed' or (d.status = 'pending' and d.attempt > 1))
     group by e.id, e.url, e.user_id
     order by failed desc, retrying desc
     limit 50`;
}
