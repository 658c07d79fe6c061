-- Audit log: every admin or ops action (deposits, operation retry/resolve, API key create/revoke,
-- webhook endpoint changes, ...) appends one row in the same transaction as the action itself.
-- Append-only like the ledger: no UPDATE, DELETE or TRUNCATE.
create table audit_log (
  id          text primary key check (id ~ '^aud_'),
  seq         bigint generated always as identity unique,
  actor_id    text not null,
  actor_role  text not null,
  api_key_id  text,
  action      text not null check (action ~ '^[a-z_]+\.[a-z_]+$'),
  target_type text not null,
  target_id   text not null,
  request_id  text,
  before      jsonb,
  after       jsonb,
  created_at  timestamptz not null default clock_timestamp()
);
create index audit_log_actor_idx on audit_log (actor_id, seq);
create index audit_log_action_idx on audit_log (action, seq);
create index audit_log_target_idx on audit_log (target_type, target_id, seq);

create trigger audit_log_append_only before update or delete on audit_log
  for each row execute function ledger_forbid_change();
create trigger audit_log_no_truncate before truncate on audit_log
  for each statement execute function ledger_forbid_change();
