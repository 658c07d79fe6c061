-- 003: payments, the posting outbox, idempotency records and events.

-- A payment moves money between two accounts. The API writes it `pending`; the posting workers
-- move it to its outcome. Amounts are minor units.
create table payments (
  id                text primary key check (id ~ '^pay_'),
  type              text not null check (type in ('payment', 'transfer', 'deposit')),
  status            text not null default 'pending'
                    check (status in ('pending', 'requires_capture', 'succeeded', 'failed', 'canceled')),
  from_account      text not null references accounts (account_number),
  to_account        text not null references accounts (account_number),
  amount            bigint not null check (amount > 0),
  currency          char(3) not null,
  capture_method    text not null default 'automatic' check (capture_method in ('automatic', 'manual')),
  amount_capturable bigint not null default 0 check (amount_capturable >= 0),
  amount_captured   bigint not null default 0 check (amount_captured >= 0),
  amount_refunded   bigint not null default 0 check (amount_refunded >= 0),
  description       text,
  metadata          jsonb not null default '{}',
  failure_code      text,
  failure_message   text,
  transaction_id    text references transactions (id),
  hold_expires_at   timestamptz,
  created_by        text not null references users (id),
  created_at        timestamptz not null default clock_timestamp(),
  updated_at        timestamptz not null default clock_timestamp(),
  completed_at      timestamptz,
  check (from_account <> to_account),
  check (amount_captured <= amount and amount_capturable <= amount),
  check (amount_refunded <= amount_captured)
);
create index payments_from_idx on payments (from_account, id desc);
create index payments_to_idx on payments (to_account, id desc);
create index payments_open_idx on payments (status, hold_expires_at) where status in ('pending', 'requires_capture');

alter table transactions add constraint transactions_payment_fk foreign key (payment_id) references payments (id);

-- The posting outbox: every accepted piece of work that moves money, in acceptance order (seq),
-- per partition (hash of the debited account). The API inserts it in the same transaction as the
-- payment; the workers claim pending rows in seq order and mark them done in the posting
-- transaction. A queue job only says "look at partition p": losing every job loses nothing.
create table operations (
  id           text primary key check (id ~ '^op_'),
  seq          bigint generated always as identity unique,
  partition    integer not null check (partition >= 0),
  kind         text not null check (kind in ('payment', 'capture', 'cancel', 'expire', 'refund')),
  payment_id   text not null references payments (id),
  refund_id    text,
  amount       bigint check (amount > 0),
  status       text not null default 'pending' check (status in ('pending', 'done')),
  created_at   timestamptz not null default clock_timestamp(),
  done_at      timestamptz
);
create index operations_pending_idx on operations (partition, seq) where status = 'pending';
create index operations_payment_idx on operations (payment_id);

-- Idempotency records (IETF Idempotency-Key draft), per principal. The response is stored as the
-- exact text sent, so a replay is byte-identical.
create table idempotency_keys (
  principal       text not null,
  key             text not null,
  request_hash    text not null,
  response_status integer not null,
  response_body   text not null,
  created_at      timestamptz not null default now(),
  expires_at      timestamptz not null,
  primary key (principal, key)
);
create index idempotency_keys_expiry_idx on idempotency_keys (expires_at);

-- Events, written in the same transaction as the money movement they report: an event exists
-- exactly when the money moved. `user_ids` are the users allowed to see it (the parties).
create table events (
  id            text primary key check (id ~ '^evt_'),
  type          text not null,
  payment_id    text references payments (id),
  refund_id     text,
  user_ids      text[] not null,
  data          jsonb not null,
  created_at    timestamptz not null default clock_timestamp(),
  dispatched_at timestamptz
);
create index events_undispatched_idx on events (created_at) where dispatched_at is null;
create index events_user_ids_idx on events using gin (user_ids);
create index events_payment_idx on events (payment_id);
