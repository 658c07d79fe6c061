-- 001: users, accounts and the double-entry ledger.
-- The ledger's invariants live here, in the database, so no code path (ours, a psql session, a
-- future service) can break them: balanced transactions at COMMIT, append-only entries and
-- transactions, no overdraft on accounts that do not allow it, entry currency = account currency,
-- and an account's balance always equal to the running sum of its entries.

create table users (
  id            text primary key check (id ~ '^usr_'),
  email         text not null,
  password_hash text not null,
  name          text,
  role          text not null check (role in ('customer', 'merchant', 'ops', 'admin')),
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now()
);
-- Emails are compared case-insensitively; stored as given.
create unique index users_email_key on users (lower(email));

create table accounts (
  account_number  text primary key check (account_number ~ '^(ACC|SYS)_[A-Z0-9_]+$'),
  owner_id        text references users (id),
  currency        char(3) not null check (currency ~ '^[A-Z]{3}$'),
  kind            text not null check (kind in ('user', 'system')),
  -- external: where deposits come from (goes negative by design); holds: escrow for authorizations.
  system_role     text check (system_role in ('external', 'holds')),
  allow_overdraft boolean not null default false,
  status          text not null default 'active' check (status in ('active', 'closed')),
  -- Posted balance: always the sum of this account's entries (credits minus debits).
  balance         bigint not null default 0,
  -- Money of this account's that sits in the holds account (authorized, not captured).
  held_balance    bigint not null default 0 check (held_balance >= 0),
  created_at      timestamptz not null default now(),
  unique (account_number, currency),
  check (allow_overdraft or balance >= 0),
  check ((kind = 'system') = (system_role is not null)),
  check (kind = 'system' or owner_id is not null)
);
create unique index accounts_system_role_key on accounts (currency, system_role) where kind = 'system';
create index accounts_owner_idx on accounts (owner_id, created_at);

create table transactions (
  id          text primary key check (id ~ '^tx_'),
  kind        text not null,
  status      text not null default 'posted' check (status = 'posted'),
  -- What caused it, unique: the database-level guard that a cause is posted at most once.
  reference   text not null unique,
  payment_id  text,
  refund_id   text,
  description text,
  created_at  timestamptz not null default clock_timestamp()
);
create index transactions_payment_idx on transactions (payment_id) where payment_id is not null;

create table ledger_entries (
  id             bigint generated always as identity primary key,
  transaction_id text not null references transactions (id),
  account_number text not null,
  currency       char(3) not null,
  direction      text not null check (direction in ('DEBIT', 'CREDIT')),
  amount         bigint not null check (amount > 0),
  balance_after  bigint not null,
  -- clock_timestamp, not now(): taken after the account lock, so per account it follows commit order.
  created_at     timestamptz not null default clock_timestamp(),
  foreign key (account_number, currency) references accounts (account_number, currency)
);
create index ledger_entries_account_idx on ledger_entries (account_number, id);
create index ledger_entries_transaction_idx on ledger_entries (transaction_id);

-- Changes to accounts' held_balance, one row per account per ledger transaction that moves money of
-- theirs into or out of the holds account: held_balance at any instant is the sum up to it.
create table hold_movements (
  id             bigint generated always as identity primary key,
  transaction_id text not null references transactions (id),
  account_number text not null references accounts (account_number),
  delta          bigint not null check (delta <> 0),
  created_at     timestamptz not null default clock_timestamp()
);
create index hold_movements_account_idx on hold_movements (account_number, id);

-- Append-only: ledger rows are facts; corrections are new, reversing transactions.
create function ledger_forbid_change() returns trigger language plpgsql as $$
begin
  raise exception '% is append-only: % refused', tg_table_name, tg_op using errcode = '42501';
end $$;

create trigger ledger_entries_append_only before update or delete on ledger_entries
  for each row execute function ledger_forbid_change();
create trigger ledger_entries_no_truncate before truncate on ledger_entries
  for each statement execute function ledger_forbid_change();
create trigger hold_movements_append_only before update or delete on hold_movements
  for each row execute function ledger_forbid_change();
create trigger hold_movements_no_truncate before truncate on hold_movements
  for each statement execute function ledger_forbid_change();
create trigger transactions_append_only before update or delete on transactions
  for each row execute function ledger_forbid_change();
create trigger transactions_no_truncate before truncate on transactions
  for each statement execute function ledger_forbid_change();

-- Each entry continues its account's running balance: balance_after = previous + signed amount.
-- The account row is locked first so concurrent writers of one account are serialized.
create function ledger_check_running_balance() returns trigger language plpgsql as $$
declare
  prev bigint;
begin
  perform 1 from accounts where account_number = new.account_number for update;
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
create trigger ledger_entries_running_balance before insert on ledger_entries
  for each row execute function ledger_check_running_balance();

-- At COMMIT: every ledger transaction balances in every currency.
create function ledger_check_balanced() returns trigger language plpgsql as $$
declare
  bad record;
begin
  select e.currency, sum(case when e.direction = 'DEBIT' then e.amount else -e.amount end) as net
    into bad
    from ledger_entries e
   where e.transaction_id = new.transaction_id
   group by e.currency
  having sum(case when e.direction = 'DEBIT' then e.amount else -e.amount end) <> 0
   limit 1;
  if found then
    raise exception 'ledger transaction % is unbalanced in % (debits - credits = %)',
      new.transaction_id, bad.currency, bad.net using errcode = '23514';
  end if;
  return null;
end $$;
create constraint trigger ledger_entries_balanced after insert on ledger_entries
  deferrable initially deferred for each row execute function ledger_check_balanced();

-- At COMMIT: an account's balance column equals its latest entry's balance_after, i.e. the sum of
-- its entries. Nobody can move a balance without entries behind it.
create function ledger_check_account_balance() returns trigger language plpgsql as $$
declare
  last_balance bigint;
  current_balance bigint;
begin
  select a.balance into current_balance from accounts a where a.account_number = new.account_number;
  select e.balance_after into last_balance from ledger_entries e
   where e.account_number = new.account_number order by e.id desc limit 1;
  if current_balance <> coalesce(last_balance, 0) then
    raise exception 'account % balance % does not equal the sum of its entries %',
      new.account_number, current_balance, coalesce(last_balance, 0) using errcode = '23514';
  end if;
  return null;
end $$;
create constraint trigger accounts_balance_matches_entries after insert or update of balance on accounts
  deferrable initially deferred for each row execute function ledger_check_account_balance();
