-- 010: account lifecycle (issue 13, item 3).
-- An account may be frozen by ops or admin (it still receives money but cannot pay; the ledger
-- declines its debits with account_frozen) and unfrozen again, or closed by its owner or an admin
-- (it neither pays nor receives). When each happened is kept on the row; who did it is in the
-- audit log. A closed account owns no money: closing requires an empty account, and this CHECK
-- makes the database refuse anything else, so no hold can ever be waiting to return to a closed
-- account.
alter table accounts drop constraint accounts_status_check;
alter table accounts add constraint accounts_status_check check (status in ('active', 'frozen', 'closed'));
-- Set by the API when it freezes or closes (frozen_at cleared again on unfreeze).
alter table accounts add column frozen_at timestamptz;
alter table accounts add column closed_at timestamptz;
alter table accounts add constraint accounts_closed_check
  check (status <> 'closed' or (balance = 0 and held_balance = 0));
