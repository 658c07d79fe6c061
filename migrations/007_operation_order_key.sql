-- Per-account posting order whatever POSTING_PARTITIONS is. An operation used to store the partition
-- it was accepted into, so after a change of the partition count an account's older work (old
-- partition) and newer work (new partition) were drained side by side, out of order. Now each
-- operation stores its debited account's order key (a stable hash) and the partition is computed
-- when work is claimed: partition = order_key mod POSTING_PARTITIONS, by the workers' own setting.

-- FNV-1a (32 bit) of an account number: the same function as accountOrderKey in shared/jobs.ts
-- (account numbers are ASCII). Here only to fill in the operations written before this migration.
create function account_order_key(account text) returns bigint
  language plpgsql immutable strict parallel safe as $$
declare
  h bigint := 2166136261;
begin
  for i in 1 .. length(account) loop
    h := ((h # ascii(substr(account, i, 1))) * 16777619) % 4294967296;
  end loop;
  return h;
end
$$;

alter table operations add column order_key bigint;
-- The debited account: the payee for a refund, the payer for everything else.
update operations o
   set order_key = account_order_key(case when o.kind = 'refund' then p.to_account else p.from_account end)
  from payments p
 where p.id = o.payment_id;
alter table operations alter column order_key set not null;
alter table operations add constraint operations_order_key_check check (order_key between 0 and 4294967295);

-- Dropping the column drops operations_pending_idx (partition, seq) with it.
alter table operations drop column partition;
create index operations_pending_idx on operations (seq) include (order_key) where status = 'pending';
