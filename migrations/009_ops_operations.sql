-- Ops can see and act on the posting pipeline without SQL (issue 12).
-- A set-aside operation ('failed') waits for ops: retried (back to 'pending') or resolved (closed
-- without posting, with a reason: 'resolved').
alter table operations drop constraint operations_status_check;
alter table operations add constraint operations_status_check
  check (status in ('pending', 'done', 'failed', 'resolved'));
alter table operations add column set_aside_at timestamptz;
alter table operations add column retries integer not null default 0 check (retries >= 0);
alter table operations add column resolved_at timestamptz;
alter table operations add column resolved_by text references users (id);
alter table operations add column resolution text check (length(resolution) between 1 and 500);
alter table operations add constraint operations_resolved_check
  check ((status = 'resolved') = (resolved_at is not null and resolution is not null));
update operations set set_aside_at = done_at where status = 'failed';
-- The set-aside list and gauge read only these.
create index operations_set_aside_idx on operations (seq) where status = 'failed';

-- When each partition last finished draining (one row per partition, written once per drain).
create table posting_partitions (
  partition       integer primary key check (partition >= 0),
  last_drained_at timestamptz not null
);
