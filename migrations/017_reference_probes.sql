-- 017: the set-based reference checks of migration 015 probe the parent's key once per new row.
--
-- Written as NOT EXISTS, each check was planned as an anti join, and with a few hundred new rows
-- the planner preferred hashing the whole parent table: a posting batch of ~150 payments read all
-- of `payments` (a sequential scan per statement, its cost growing with the table) until the table
-- was large enough for the planner to change its mind. A scalar subquery is never turned into a
-- join: each new row costs one primary-key probe, whatever the parent's size, and the check's cost
-- follows the statement, not the history. And the functions run with enable_seqscan off: on a
-- small parent (the users, the accounts of a young system) the planner would rather read the
-- whole table once per new row than probe its key. Same checks, same errors; only the plans change.

create or replace function payments_check_references() returns trigger language plpgsql
  set enable_seqscan = off as $$
declare
  bad record;
begin
  select n.id, x.account into bad
    from new_payments n
   cross join lateral (values (n.from_account), (n.to_account)) as x(account)
   where (select a.account_number from accounts a where a.account_number = x.account) is null
   limit 1;
  if found then
    raise exception 'payment % refers to account %, which does not exist', bad.id, bad.account
      using errcode = '23503';
  end if;
  select n.id, n.created_by into bad
    from new_payments n
   where (select u.id from users u where u.id = n.created_by) is null
   limit 1;
  if found then
    raise exception 'payment % refers to user %, who does not exist', bad.id, bad.created_by
      using errcode = '23503';
  end if;
  return null;
end $$;

create or replace function check_payment_references() returns trigger language plpgsql
  set enable_seqscan = off as $$
declare
  bad record;
begin
  select n.payment_id into bad
    from new_rows n
   where n.payment_id is not null and (select p.id from payments p where p.id = n.payment_id) is null
   limit 1;
  if found then
    raise exception '% row refers to payment %, which does not exist', tg_table_name, bad.payment_id
      using errcode = '23503';
  end if;
  return null;
end $$;

create or replace function ledger_check_new_entries() returns trigger language plpgsql
  set enable_seqscan = off as $$
declare
  bad record;
begin
  select n.transaction_id into bad
    from new_entries n
   where (select t.id from transactions t where t.id = n.transaction_id) is null
   limit 1;
  if found then
    raise exception 'ledger entry refers to transaction %, which does not exist', bad.transaction_id
      using errcode = '23503';
  end if;
  select n.account_number, n.currency into bad
    from new_entries n
   where (select a.account_number from accounts a
           where a.account_number = n.account_number and a.currency = n.currency) is null
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
