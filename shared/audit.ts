import type { Ctx, Principal } from "./context.ts";
import type { Db } from "./db/index.ts";
import { ForbiddenError } from "./errors.ts";
import { newId } from "./ids.ts";
import { decodeCursor, type Page, pageOf } from "./pagination.ts";

/**
 * The audit log: who did what to what, appended in the same transaction as the action, so an
 * action and its audit row commit or roll back together. Append-only (migration 008).
 */

export interface AuditEntry {
  actor: Principal;
  /** `resource.verb`, e.g. `operation.retry`, `api_key.revoke`, `deposit.create`. */
  action: string;
  target: { type: string; id: string };
  requestId: string | null;
  /** The target before and after, where that helps a reader (never a secret). */
  before?: unknown;
  after?: unknown;
}

/** The actor and request id of an entry for an action the caller takes. */
export function byCaller(ctx: Ctx): Pick<AuditEntry, "actor" | "requestId"> {
  return { actor: ctx.principal, requestId: ctx.requestId ?? null };
}

function row(e: AuditEntry) {
  return {
    id: newId("aud"),
    actor_id: e.actor.userId,
    actor_role: e.actor.role,
    api_key_id: e.actor.apiKeyId,
    action: e.action,
    target_type: e.target.type,
    target_id: e.target.id,
    request_id: e.requestId,
    before: e.before ?? null,
    after: e.after ?? null,
  };
}

/** Appends audit rows; run it on the action's own transaction. Returns the query (awaitable). */
export function audit(db: Db, ...entries: AuditEntry[]) {
  return db`
    insert into audit_log (id, actor_id, actor_role, api_key_id, action, target_type, target_id, request_id,
                           before, after)
    select id, actor_id, actor_role, api_key_id, action, target_type, target_id, request_id, before, after
      from jsonb_to_recordset(${db.json(entries.map(row) as never)})
        as x(id text, actor_id text, actor_role text, api_key_id text, action text, target_type text,
             target_id text, request_id text, before jsonb, after jsonb)`;
}

export interface AuditRow {
  id: string;
  seq: bigint;
  actor_id: string;
  actor_role: string;
  api_key_id: string | null;
  action: string;
  target_type: string;
  target_id: string;
  request_id: string | null;
  before: unknown;
  after: unknown;
  created_at: Date;
}

export function auditObject(r: AuditRow) {
  return {
    id: r.id,
    object: "audit_entry" as const,
    actor_id: r.actor_id,
    actor_role: r.actor_role,
    api_key_id: r.api_key_id,
    action: r.action,
    target_type: r.target_type,
    target_id: r.target_id,
    request_id: r.request_id,
    before: r.before,
    after: r.after,
    created_at: r.created_at.toISOString(),
  };
}

export type AuditObject = ReturnType<typeof auditObject>;

export interface AuditFilter {
  limit: number;
  cursor?: string;
  actor_id?: string;
  action?: string;
  target_type?: string;
  target_id?: string;
}

/** The audit log (admin only), newest first, filtered by actor, action and target. */
export async function listAudit(ctx: Ctx, input: AuditFilter): Promise<Page<AuditObject>> {
  if (ctx.principal.role !== "admin")
    throw new ForbiddenError("forbidden", "Only admins read the audit log.");
  const before = decodeCursor(input.cursor, /^[1-9]\d{0,18}$/);
  const { sql } = ctx;
  const rows = await sql<AuditRow[]>`
    select id, seq, actor_id, actor_role, api_key_id, action, target_type, target_id, request_id, before, after,
           created_at
      from audit_log
     where true
       ${input.actor_id === undefined ? sql`` : sql`and actor_id = ${input.actor_id}`}
       ${input.action === undefined ? sql`` : sql`and action = ${input.action}`}
       ${input.target_type === undefined ? sql`` : sql`and target_type = ${input.target_type}`}
       ${input.target_id === undefined ? sql`` : sql`and target_id = ${input.target_id}`}
       ${before ? sql`and seq < ${before}::bigint` : sql``}
     order by seq desc
     limit ${input.limit + 1}`;
  return pageOf(rows, input.limit, (r) => r.seq, auditObject);
}
