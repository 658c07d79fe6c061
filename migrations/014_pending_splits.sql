-- Pending amounts of split payees (shared/payments/pending.ts): the splits of open payments only
-- (pending, or with a capture, cancel or expiry accepted), so a payee's pending figures cost its
-- open split payments, not their history.
create index payments_open_splits_idx on payments using gin (splits jsonb_path_ops)
  where splits is not null and (status = 'pending' or pending_action is not null);
