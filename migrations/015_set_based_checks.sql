-- 015: the ledger's invariants and the hot path's references checked once per statement, not once
-- per row (issue 9: they were a third of Postgres's time per payment).
--
-- Before, every ledger entry ran a row trigger (lock its account, read the latest entry) and queued
-- a deferred row trigger (sum its transaction), and every payment, operation, event, ledger
-- transaction and entry ran one foreign-key query per reference (a row lock on the parent each).
-- A posting batch of 200 payments ran ~2,000 of those small queries. Now each INSERT statement runs
-- a handful of set-based checks over its transition table, whatever its size. The guarantees stay:
--
-- * Running balance: every new entry continues its account's chain (balance_after = the previous
--   entry's + its signed amount, in id order), the previous entry being the account's latest one
--   outside the statement. The statement's accounts are locked FOR NO KEY UPDATE (account order)
--   before the chain is read, so concurrent writers of an account are serialized as before: the
--   second one reads the first one's entries once they are committed and fails unless it continued
--   them.
-- * Balanced: each statement's entries balance per ledger transaction and currency. This is
--   stricter than before (a check at COMMIT over the transaction's entries): a leg can no longer be
--   written in a statement of its own. postBatch writes all of a batch's legs in one statement.
-- * References: each new row's parents exist (the same errcode as a foreign key, 23503), and a
--   reference changed later is checked row by row (only when it changes). A foreign key also stops
--   the parent from being deleted or its key changed; here the parents refuse that themselves:
--   accounts, users and payments are never deleted (accounts close, payments end in a status) and
--   their keys never change (transactions were append-only already). So what existed when a row
--   was checked exists for as long as the row does.
--
-- The foreign keys of colder paths (refunds, payouts, holds, webhooks, auth) stay declarative.

-- Parents: never deleted, keys never change.
create function refuse_parent_change() returns trigger language plpgsql as $$
begin
  if tg_op = 'UPDATE' then
    raise exception '%: % is immutable (rows refer to it)', tg_table_name, tg_argv[0]
      using errcode = '23001';
  end if;
  raise exception '% rows are never deleted or truncated (rows refer to them)', tg_table_name
    using errcode = '23001';
end $$;

create trigger accounts_never_deleted before delete on accounts
  for each row execute function refuse_parent_change();
create trigger accounts_no_truncate before truncate on accounts
  for each statement execute function refuse_parent_change();
create trigger accounts_key_immutable before update of account_number, currency on accounts
  for each row when (old.account_number is distinct from new.account_number or old.currency is distinct from new.currency)
  execute function refuse_parent_change('account_number and currency');

create trigger users_never_deleted before delete on users
  for each row execute function refuse_parent_change();
create trigger users_no_truncate before truncate on users
  for each statement execute function refuse_parent_change();
create trigger users_key_immutable before update of id on users
  for each row when (old.id is distinct from new.id) execute function refuse_parent_change('id');

create trigger payments_never_deleted before delete on payments
  for each row execute function refuse_parent_change();
create trigger payments_no_truncate before truncate on payments
  for each statement execute function refuse_parent_change();
create trigger payments_key_immutable before update of id on payments
  for each row when (old.id is distinct from new.id) execute function refuse_parent_change('id');
-- payments: from_account, to_account -> accounts; created_by -> users.
alter table payments drop constraint payments_from_account_fkey;
alter table payments drop constraint payments_to_account_fkey;
alter table payments drop constraint payments_created_by_fkey;

create function payments_check_references() returns trigger language plpgsql as $$
declare
  bad record;
begin
  select n.id, x.account into bad
    from new_payments n
   cross join lateral (values (n.from_account), (n.to_account)) as x(account)
   where not exists (select 1 from accounts a where a.account_number = x.account)
   limit 1;
  if found then
    raise exception 'payment % refers to account %, which does not exist', bad.id, bad.account
      using errcode = '23503';
  end if;
  select n.id, n.created_by into bad
    from new_payments n
   where not exists (select 1 from users u where u.id = n.created_by)
   limit 1;
  if found then
    raise exception 'payment % refers to user %, who does not exist', bad.id, bad.created_by
      using errcode = '23503';
  end if;
  return null;
end $$;
create trigger payments_references after insert on payments
  referencing new table as new_payments for each statement execute function payments_check_references();

-- Changing a reference later (never done by the app) is checked like a foreign key would: row by
-- row, only when the value changes, so the posting engine's status updates pay nothing for it.
create function payments_check_changed_references() returns trigger language plpgsql as $$
begin
  if not exists (select 1 from accounts where account_number = new.from_account)
     or not exists (select 1 from accounts where account_number = new.to_account)
     or not exists (select 1 from users where id = new.created_by) then
    raise exception 'payment % refers to an account or user that does not exist', new.id using errcode = '23503';
  end if;
  return new;
end $$;
create trigger payments_references_changed before update of from_account, to_account, created_by on payments
  for each row when (old.from_account is distinct from new.from_account or old.to_account is distinct from new.to_account
                     or old.created_by is distinct from new.created_by)
  execute function payments_check_changed_references();

-- operations, events, transactions: payment_id -> payments (when set).
alter table operations drop constraint operations_payment_id_fkey;
alter table events drop constraint events_payment_id_fkey;
alter table transactions drop constraint transactions_payment_fk;

create function check_payment_references() returns trigger language plpgsql as $$
declare
  bad record;
begin
  select n.payment_id into bad
    from new_rows n
   where n.payment_id is not null and not exists (select 1 from payments p where p.id = n.payment_id)
   limit 1;
  if found then
    raise exception '% row refers to payment %, which does not exist', tg_table_name, bad.payment_id
      using errcode = '23503';
  end if;
  return null;
end $$;
create trigger operations_payment_reference after insert on operations
  referencing new table as new_rows for each statement execute function check_payment_references();
create trigger events_payment_reference after insert on events
  referencing new table as new_rows for each statement execute function check_payment_references();
create trigger transactions_payment_reference after insert on transactions
  referencing new table as new_rows for each statement execute function check_payment_references();

create function check_changed_payment_reference() returns trigger language plpgsql as $$
begin
  if new.payment_id is not null and not exists (select 1 from payments where id = new.payment_id) then
    raise exception '% row refers to payment %, which does not exist', tg_table_name, new.payment_id
      using errcode = '23503';
  end if;
  return new;
end $$;
create trigger operations_payment_reference_changed before update of payment_id on operations
  for each row when (old.payment_id is distinct from new.payment_id) execute function check_changed_payment_reference();
create trigger events_payment_reference_changed before update of payment_id on events
  for each row when (old.payment_id is distinct from new.payment_id) execute function check_changed_payment_reference();

-- ledger_entries: references, running balance and balance, once per statement.
drop trigger ledger_entries_running_balance on ledger_entries;
drop trigger ledger_entries_balanced on ledger_entries;
drop function ledger_check_running_balance();
drop function ledger_check_balanced();
alter table ledger_entries drop constraint ledger_entries_transaction_id_fkey;
alter table ledger_entries drop constraint ledger_entries_account_number_currency_fkey;

create function ledger_check_new_entries() returns trigger language plpgsql as $$
declare
  bad record;
begin
  select n.transaction_id into bad
    from new_entries n
   where not exists (select 1 from transactions t where t.id = n.transaction_id)
   limit 1;
  if found then
    raise exception 'ledger entry refers to transaction %, which does not exist', bad.transaction_id
      using errcode = '23503';
  end if;
  select n.account_number, n.currency into bad
    from new_entries n
   where not exists (select 1 from accounts a where a.account_number = n.account_number and a.currency = n.currency)
   limit 1;
  if found then
    raise exception 'ledger entry refers to account % in %, which does not exist', bad.account_number, bad.currency
      using errcode = '23503';
  end if;

  select n.transaction_id, n.currency,
         sum(case when n.direction = 'DEBIT' then n.amount else -n.amount end) as net
    into bad
    from new_entries n
   group by n.transaction_id, n.currency
  having sum(case when n.direction = 'DEBIT' then n.amount else -n.amount end) <> 0
   limit 1;
  if found then
    raise exception 'ledger transaction % is unbalanced in % (debits - credits = %)',
      bad.transaction_id, bad.currency, bad.net using errcode = '23514';
  end if;

  -- Serialize the accounts' writers, then read each chain (a fresh snapshot: after the wait).
  perform 1 from accounts
   where account_number in (select distinct account_number from new_entries)
   order by account_number
     for no key update;
  with mine as (
    select account_number, array_agg(id) as ids from new_entries group by account_number
  ), prior as (
    select m.account_number,
           coalesce((select p.balance_after from ledger_entries p
                      where p.account_number = m.account_number and p.id <> all (m.ids)
                      order by p.id desc limit 1), 0) as balance
      from mine m
  ), chain as (
    select n.id, n.account_number, n.direction, n.amount, n.balance_after,
           coalesce(lag(n.balance_after) over (partition by n.account_number order by n.id), b.balance) as prev
      from new_entries n join prior b using (account_number)
  )
  select * into bad from chain
   where balance_after <> prev + (case when direction = 'CREDIT' then amount else -amount end)
   order by id
   limit 1;
  if found then
    raise exception 'entry for % breaks the running balance (% after %, % %)',
      bad.account_number, bad.balance_after, bad.prev, bad.direction, bad.amount
      using errcode = '23514';
  end if;
  return null;
end $$;
create trigger ledger_entries_checked after insert on ledger_entries
  referencing new table as new_entries for each statement execute function ledger_check_new_entries();
