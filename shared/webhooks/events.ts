import { type Ctx, canReadAll } from "../context.ts";
import type { Db } from "../db/index.ts";
import { NotFoundError } from "../errors.ts";
import { decodeCursor, type Page, pageOf } from "../pagination.ts";

/**
 * Events, as the API shows them and as webhooks carry them. The posting engine writes them in the
 * same transaction as the money movement; `user_ids` names who may see one (the parties), and
 * ops/admin see them all. An event the caller may not see is indistinguishable from none.
 */

export const EVENT_TYPES = [
  "payment.succeeded",
  "payment.failed",
  "payment.requires_capture",
  "payment.canceled",
  "refund.succeeded",
  "refund.failed",
  "payout.in_transit",
  "payout.paid",
  "payout.failed",
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

const EVENT_ID = /^evt_[0-9A-Z]{26}$/;

export interface EventRow {
  id: string;
  type: string;
  user_ids: string[];
  data: { object: Record<string, unknown> };
  created_at: Date;
}

/** The public event object: `{id, object, type, created_at, data: {object}}`. */
export function eventObject(e: EventRow) {
  return {
    id: e.id,
    object: "event" as const,
    type: e.type as EventType,
    created_at: e.created_at.toISOString(),
    data: e.data,
  };
}

export type EventObject = ReturnType<typeof eventObject>;

/** The event, when the caller is one of its parties or reads everything; else 404. */
export async function findVisibleEvent(ctx: Ctx, db: Db, id: string, lock = false): Promise<EventRow> {
  const all = canReadAll(ctx.principal);
  const [row] = await db<EventRow[]>`
    select id, type, user_ids, data, created_at from events
     where id = ${id}
       ${all ? db`` : db`and user_ids @> array[${ctx.principal.userId}]::text[]`}
       ${lock ? db`for no key update` : db``}`;
  if (!row) throw new NotFoundError("event", "event_not_found");
  return row;
}

export async function getEvent(ctx: Ctx, id: string): Promise<EventObject> {
  return eventObject(await findVisibleEvent(ctx, ctx.sql, id));
}

export interface ListEventsInput {
  type?: EventType;
  limit: number;
  cursor?: string;
}

/** Events about the caller's resources (ops/admin: all), newest first. */
export async function listEvents(ctx: Ctx, input: ListEventsInput): Promise<Page<EventObject>> {
  const before = decodeCursor(input.cursor, EVENT_ID);
  const { sql } = ctx;
  const all = canReadAll(ctx.principal);
  const rows = await sql<EventRow[]>`
    select id, type, user_ids, data, created_at from events
     where true
       ${all ? sql`` : sql`and user_ids @> array[${ctx.principal.userId}]::text[]`}
       ${input.type ? sql`and type = ${input.type}` : sql``}
       ${before ? sql`and id < ${before}` : sql``}
     order by id desc
     limit ${input.limit + 1}`;
  return pageOf(rows, input.limit, (r) => r.id, eventObject);
}
