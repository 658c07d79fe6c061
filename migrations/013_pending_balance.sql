-- 013: pending amounts in the balance (issue 13, item 4): accepted, not yet posted work per account.
--
-- Read at request time from the rows that say what is pending (the payment, its pending action,
-- the refund), through partial indexes that hold pending work only. These indexes are maintained
-- by the acceptance and posting transactions themselves (a row enters an index when it is accepted
-- pending and leaves it, for new snapshots, when posting moves it on), so the figures are exact at
-- all times and a read costs what is pending for the account, not its history. No counter row:
-- one updated by every acceptance would be a row lock every acceptance to a hot payee must take.
-- See shared/payments/pending.ts.

-- Pending payments, transfers, deposits: debit the payer (automatic or manual capture alike).
create index payments_pending_from_idx on payments (from_account) include (amount)
  where status = 'pending';
-- ...credit the payee (automatic capture) or, for a manual capture, the currency's holds account.
create index payments_pending_to_idx on payments (to_account) include (amount)
  where status = 'pending' and capture_method = 'automatic';
create index payments_pending_authorization_idx on payments (currency) include (amount)
  where status = 'pending' and capture_method = 'manual';

-- Accepted captures, cancels and expiries of a hold: debit the holds account, credit the payee
-- (captured part) and the payer (the rest).
create index payments_pending_action_from_idx on payments (from_account)
  include (pending_action, pending_action_amount, amount_capturable) where pending_action is not null;
create index payments_pending_action_to_idx on payments (to_account)
  include (pending_action, pending_action_amount) where pending_action is not null;
create index payments_pending_action_currency_idx on payments (currency)
  include (amount_capturable) where pending_action is not null;

-- Pending refunds (payee to payer); the accounts come from the payment, by primary key.
create index refunds_pending_idx on refunds (payment_id) include (amount) where status = 'pending';
