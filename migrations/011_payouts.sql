-- 011: payouts (issue 13, item 2). Money leaves the ledger to a bank account in two steps: the
-- workers post it from the user's account into the currency's `payouts_in_transit` system account
-- (in order with the account's other postings, through the operations outbox), then ops settle it:
-- paid (in transit -> external: the money is gone) or failed (in transit -> back to the user).

alter table accounts drop constraint accounts_system_role_check;
alter table accounts add constraint accounts_system_role_check
  check (system_role in ('external', 'holds', 'payouts_in_transit'));
-- One per currency, like the others (shared/ledger/accounts.ts makes them for new currencies).
insert into accounts (account_number, currency, kind, system_role, allow_overdraft)
select 'SYS_PAYOUTS_IN_TRANSIT_' || currency, currency, 'system', 'payouts_in_transit', false
  from accounts where system_role = 'external'
on conflict do nothing;

-- The destination keeps only what a bank transfer needs: the holder's name and either an IBAN or
-- a US routing number and account number (validated by the API: IBAN mod-97, ABA checksum).
create table payouts (
  id                    text primary key check (id ~ '^po_'),
  status                text not null default 'pending'
                        check (status in ('pending', 'in_transit', 'paid', 'failed')),
  from_account          text not null references accounts (account_number),
  amount                bigint not null check (amount > 0),
  currency              char(3) not null,
  destination           jsonb not null,
  description           text,
  failure_code          text,
  failure_message       text,
  -- user -> in transit; in transit -> external (paid); in transit -> user (returned).
  transaction_id        text references transactions (id),
  settle_transaction_id text references transactions (id),
  created_by            text not null references users (id),
  created_at            timestamptz not null default clock_timestamp(),
  updated_at            timestamptz not null default clock_timestamp(),
  completed_at          timestamptz
);
create index payouts_from_idx on payouts (from_account, id desc);

-- An operation is about a payment or a payout, exactly one of them.
alter table operations alter column payment_id drop not null;
alter table operations add column payout_id text references payouts (id);
alter table operations add constraint operations_subject_check check (num_nonnulls(payment_id, payout_id) = 1);
create index operations_payout_idx on operations (payout_id) where payout_id is not null;
alter table operations drop constraint operations_kind_check;
alter table operations add constraint operations_kind_check
  check (kind in ('payment', 'capture', 'cancel', 'expire', 'refund', 'payout'));
alter table operations add constraint operations_payout_kind_check check ((kind = 'payout') = (payout_id is not null));

-- Payout events name their payout (payment_id stays null).
alter table events add column payout_id text references payouts (id);
