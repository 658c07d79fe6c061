import { audit, byCaller } from "./audit.ts";
import { type Ctx, canReadAll } from "./context.ts";
import type { Tx } from "./db/index.ts";
import { ForbiddenError, NotFoundError, ValidationError } from "./errors.ts";
import type { AccountRow } from "./ledger/index.ts";
import { formatAmount } from "./money.ts";

/**
 * An account's lifecycle (issue 13, item 3): `active` <-> `frozen` (ops or admin), and `closed`
 * (its owner or an admin), for good. A frozen account receives money but cannot pay; a closed one
 * does neither. Acceptance refuses them (shared/payments/accept.ts, refunds.ts) and the ledger
 * declines the same at posting (refusedByStatus in shared/ledger/index.ts), for what was accepted
 * before: acceptance reads accounts without locking them, so a payment may commit just after a
 * freeze or close that it did not see; its posting then fails with `account_frozen` or
 * `account_closed` and no money moves. Every change is audited in its own transaction; asking for
 * the state an account is already in changes nothing and writes no audit row.
 */

/**
 * Locks a user account the caller may see. FOR UPDATE, not FOR NO KEY UPDATE: it also waits for,
 * and then holds off, transactions inserting rows that reference the account (the FOR KEY SHARE
 * of a foreign-key check), so a payment committed before the lock is seen by the checks that
 * follow, and one inserted after waits for this transaction to end.
 */
async function lockAccount(ctx: Ctx, tx: Tx, accountNumber: string): Promise<AccountRow> {
  const { principal } = ctx;
  const [account] = await tx<AccountRow[]>`
    select * from accounts
     where account_number = ${accountNumber}
       ${canReadAll(principal) ? tx`` : tx`and owner_id = ${principal.userId}`}
       for update`;
  if (!account) throw new NotFoundError("account");
  if (account.kind !== "user") {
    throw new ValidationError("system_account", "System accounts cannot be frozen or closed.");
  }
  return account;
}

function refuseClosed(account: AccountRow): void {
  if (account.status === "closed") throw new ValidationError("account_closed", "This account is closed.");
}

/** POST /accounts/{n}/freeze and /unfreeze: ops or admin. Freezing a frozen account is a no-op. */
export function setFrozen(ctx: Ctx, accountNumber: string, frozen: boolean): Promise<AccountRow> {
  if (!canReadAll(ctx.principal)) {
    throw new ForbiddenError("forbidden", "Only ops or admins may freeze or unfreeze accounts.");
  }
  return ctx.sql.begin(async (tx) => {
    const before = await lockAccount(ctx, tx, accountNumber);
    refuseClosed(before);
    const to = frozen ? "frozen" : "active";
    if (before.status === to) return before;
    const [after] = await tx<AccountRow[]>`
      update accounts set status = ${to}, frozen_at = ${frozen ? tx`clock_timestamp()` : null}
       where account_number = ${accountNumber}
      returning *`;
    await audit(tx, {
      ...byCaller(ctx),
      action: frozen ? "account.freeze" : "account.unfreeze",
      target: { type: "account", id: accountNumber },
      before: { status: before.status },
      after: { status: after!.status },
    });
    return after!;
  });
}

/**
 * Anything accepted and not yet done that touches the account: an open payment (pending, or a
 * hold, as payer or payee) or a pending or set-aside operation of one of its payments (a refund).
 * Read from the open payments and the unfinished operations only (partial indexes), not history.
 */
async function hasPendingWork(tx: Tx, accountNumber: string): Promise<boolean> {
  // A split payee other than the first is not `to_account`: found through the splits' GIN index.
  const [row] = await tx<{ open: boolean; split_open: boolean; queued: boolean }[]>`
    select
      exists (select 1 from payments p
               where p.status in ('pending', 'requires_capture')
                 and ${accountNumber} in (p.from_account, p.to_account)) as open,
      exists (select 1 from payments p
               where p.splits @> ${tx.json([{ to_account: accountNumber }])} and p.splits is not null
                 and p.status in ('pending', 'requires_capture')) as split_open,
      exists (select 1 from operations o join payments p on p.id = o.payment_id
               where o.status in ('pending', 'failed')
                 and ${accountNumber} in (p.from_account, p.to_account)) as queued`;
  return Boolean(row?.open || row?.split_open || row?.queued);
}

/**
 * POST /accounts/{n}/close: the owner or an admin, only for an account with nothing in it
 * (balance and held balance zero, nothing pending: else `account_not_empty`). A frozen account is
 * being looked at by ops: only an admin may close it. Closing twice: `account_closed`.
 */
export function closeAccount(ctx: Ctx, accountNumber: string): Promise<AccountRow> {
  return ctx.sql.begin(async (tx) => {
    const before = await lockAccount(ctx, tx, accountNumber);
    const { principal } = ctx;
    if (principal.role !== "admin" && before.owner_id !== principal.userId) {
      throw new ForbiddenError("forbidden", "Only the account's owner or an admin may close it.");
    }
    refuseClosed(before);
    if (before.status === "frozen" && principal.role !== "admin") {
      throw new ValidationError("account_frozen", "This account is frozen: only an admin may close it.");
    }
    if (before.balance !== 0n || before.held_balance !== 0n || (await hasPendingWork(tx, accountNumber))) {
      throw new ValidationError(
        "account_not_empty",
        "Only an account with a zero balance, nothing held and nothing pending can be closed.",
      );
    }
    const [after] = await tx<AccountRow[]>`
      update accounts set status = 'closed', closed_at = clock_timestamp()
       where account_number = ${accountNumber}
      returning *`;
    await audit(tx, {
      ...byCaller(ctx),
      action: "account.close",
      target: { type: "account", id: accountNumber },
      before: { status: before.status, balance: formatAmount(before.balance, before.currency) },
      after: { status: after!.status },
    });
    return after!;
  });
}
