-- 012: split payments (issue 13, item 1). A payment may pay several accounts at once: `splits`
-- holds them in order as [{"to_account": "ACC_...", "amount": "<minor units>"}] (null for an
-- ordinary payment). `to_account` stays the first split's account, the merchant of record, so the
-- foreign key, the payee index and the capture/refund rights keep working unchanged.
alter table payments add column splits jsonb;
alter table payments add constraint payments_splits_check
  check (splits is null or (jsonb_typeof(splits) = 'array' and jsonb_array_length(splits) between 1 and 10));
-- "Payments where my account is a split payee": splits @> '[{"to_account": "ACC_..."}]'.
create index payments_splits_idx on payments using gin (splits jsonb_path_ops) where splits is not null;
