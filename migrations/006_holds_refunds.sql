-- 006: holds (capture, cancel, expiry) and refunds.

-- A capture, cancel or expiry accepted for a held payment and not yet posted. Acceptance sets it
-- under the payment's row lock, so of many concurrent captures/cancels exactly one is accepted;
-- posting clears it.
alter table payments
  add column pending_action text check (pending_action in ('capture', 'cancel', 'expire')),
  add column pending_action_amount bigint check (pending_action_amount > 0);

-- Refunds move money from the payee back to the payer, referencing the payment. The sum of
-- succeeded refunds is payments.amount_refunded, which a CHECK keeps within amount_captured.
create table refunds (
  id              text primary key check (id ~ '^re_'),
  payment_id      text not null references payments (id),
  amount          bigint not null check (amount > 0),
  currency        char(3) not null,
  status          text not null default 'pending' check (status in ('pending', 'succeeded', 'failed')),
  reason          text check (reason in ('duplicate', 'fraudulent', 'requested_by_customer')),
  failure_code    text,
  failure_message text,
  transaction_id  text references transactions (id),
  created_by      text not null references users (id),
  created_at      timestamptz not null default clock_timestamp(),
  updated_at      timestamptz not null default clock_timestamp(),
  completed_at    timestamptz
);
create index refunds_payment_idx on refunds (payment_id, id desc);

alter table operations add constraint operations_refund_fk foreign key (refund_id) references refunds (id);
alter table transactions add constraint transactions_refund_fk foreign key (refund_id) references refunds (id);

-- An operation that cannot be posted for a reason retrying will not fix (a bug, bad data) is set
-- aside as failed, with the error, instead of blocking its partition forever.
alter table operations drop constraint operations_status_check;
alter table operations add constraint operations_status_check check (status in ('pending', 'done', 'failed'));
alter table operations add column error text;
