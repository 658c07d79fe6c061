-- 004: lock account rows FOR NO KEY UPDATE, not FOR UPDATE.
-- Inserting a row that references an account (a payment, an entry) takes FOR KEY SHARE on it, and
-- FOR UPDATE conflicts with that: API transactions inserting payments and posting transactions
-- locking accounts could wait on each other in a cycle (seen as "deadlock detected" under load).
-- Posting never changes an account's key, so FOR NO KEY UPDATE serializes writers of a balance
-- just the same and lets foreign-key checks through.
create or replace function ledger_check_running_balance() returns trigger language plpgsql as $$
declare
  prev bigint;
begin
  perform 1 from accounts where account_number = new.account_number for no key update;
  select e.balance_after into prev from ledger_entries e
   where e.account_number = new.account_number order by e.id desc limit 1;
  -- (parenthesized: plpgsql ends an IF condition at the first THEN, even inside a CASE)
  if new.balance_after <> (coalesce(prev, 0) + (case when new.direction = 'CREDIT' then new.amount else -new.amount end)) then
    raise exception 'entry for % breaks the running balance (% after %, % %)',
      new.account_number, new.balance_after, coalesce(prev, 0), new.direction, new.amount
      using errcode = '23514';
  end if;
  return new;
end $$;
