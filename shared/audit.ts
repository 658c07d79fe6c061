import type { Principal } from "./context.ts";
import type { Db } from "./db/index.ts";
import { newId } from "./ids.ts";

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
