import type postgres from "postgres";
import type { Db, Sql, Tx } from "../db/index.ts";
import { type AccountRow, systemAccountNumber } from "../ledger/index.ts";
import { proRata, type StoredSplit } from "./splits.ts";

/**
 * Pending amounts of an account (issue 13, item 4): what accepted, not yet posted work will debit
 * from (`outgoing`) and credit to (`incoming`) the account's own entries, i.e. its
 * `available_balance`. Once all of it is posted (and none declined), available_balance has moved by
 * exactly incoming - outgoing. So, by source:
 * - a pending payment, transfer or deposit: outgoing of the payer (also a manual-capture one until
 *   it is authorized; after that the money is in `held_balance`, not pending), incoming of the payee
 *   (automatic capture) or of the currency's holds account (manual capture: an authorization);
 * - an accepted capture: incoming of the payee (the captured amount) and of the payer (the
 *   uncaptured rest, released); outgoing of the holds account (all that is held). Not outgoing of the
 *   payer: that money left its available_balance when it was authorized, and sits in its
 *   held_balance until the capture posts;
 * - an accepted cancel or expiry: incoming of the payer, outgoing of the holds account;
 * - a pending refund: outgoing of the payee (merchant), incoming of the payer.
 * Set-aside operations (status 'failed') keep their payment, action or refund pending until ops
 * retry or resolve them, so they count; a declined or resolved one is no longer pending.
 *
 * Design: computed at read time from the rows that say what is pending, through partial indexes
 * that hold pending work only (migrations/013_pending_balance.sql), in the same statement (one
 * snapshot) as the posted balances, so pending and posted never double-count or miss a posting
 * that commits meanwhile. The indexes are maintained inside the acceptance and posting
 * transactions, so the figures are exact at all times, and a read costs the account's pending work
 * (plus the system's pending refunds), not its history. Not a per-account counter row: acceptance
 * would have to update it for every payee in the group, a row lock that every acceptance group
 * paying a hot merchant would queue on (and posting would take it too), serializing acceptance
 * where it is now only an insert. The price is a few index entries per acceptance and a read that
 * grows with what is pending for the account (a hot payee with a deep backlog sums its backlog).
 *
 * One function per source: new pending work (payouts: `status = 'pending'`, outgoing of the
 * account paid out) adds a source and a partial index, nothing else.
 */

export interface PendingAmounts {
  outgoing: bigint;
  incoming: bigint;
}

type PendingAccount = Pick<AccountRow, "account_number" | "currency">;

/** Rows (outgoing, incoming) of one kind of pending work for the account; null if none can be. */
type PendingSource = (db: Db, account: PendingAccount) => postgres.Fragment | null;

function isHolds(a: PendingAccount): boolean {
  return a.account_number === systemAccountNumber("holds", a.currency);
}

/** Accepted payments, transfers and deposits (manual capture: their authorization). */
const pendingPayments: PendingSource = (db, a) => db`
  select amount, 0::bigint from payments
   where from_account = ${a.account_number} and status = 'pending'
  union all
  select 0::bigint, amount from payments
   where to_account = ${a.account_number} and status = 'pending' and capture_method = 'automatic'
     and splits is null`;

/** Authorizations pending: credit the holds account of their currency. */
const pendingAuthorizations: PendingSource = (db, a) =>
  isHolds(a)
    ? db`
  select 0::bigint, amount from payments
   where currency = ${a.currency} and status = 'pending' and capture_method = 'manual'`
    : null;

/** Accepted captures, cancels and expiries of a hold, for its payer and payee. */
const pendingHoldActions: PendingSource = (db, a) => db`
  select 0::bigint,
         case when pending_action = 'capture' then amount_capturable - pending_action_amount
              else amount_capturable end
    from payments
   where from_account = ${a.account_number} and pending_action is not null
  union all
  select 0::bigint, case when pending_action = 'capture' then pending_action_amount else 0 end
    from payments
   where to_account = ${a.account_number} and pending_action is not null and splits is null`;

/** The same actions from the holds account: everything the hold has leaves it. */
const pendingReleases: PendingSource = (db, a) =>
  isHolds(a)
    ? db`
  select amount_capturable, 0::bigint from payments
   where currency = ${a.currency} and pending_action is not null`
    : null;

/** Accepted refunds: payee to payer. */
const pendingRefunds: PendingSource = (db, a) => db`
  select case when p.to_account = ${a.account_number} and p.splits is null then r.amount else 0 end,
         case when p.from_account = ${a.account_number} then r.amount else 0 end
    from refunds r join payments p on p.id = r.payment_id
   where r.status = 'pending' and ${a.account_number} in (p.from_account, p.to_account)`;

/** Accepted payouts: out of the account paid out (once posted, the money is in transit, not pending). */
const pendingPayouts: PendingSource = (db, a) => db`
  select amount, 0::bigint from payouts where from_account = ${a.account_number} and status = 'pending'`;

const SOURCES: PendingSource[] = [
  pendingPayments,
  pendingAuthorizations,
  pendingHoldActions,
  pendingReleases,
  pendingRefunds,
  pendingPayouts,
];

/**
 * The split payees' side of pending split payments (issue 13, item 1), computed here with the same
 * pro-rata rule the postings use (shared/payments/splits.ts), so the figures match what will post:
 * a pending payment credits each payee its split; an accepted capture credits each payee its share
 * of the captured amount; a pending refund debits each payee its share of the refund, weighted by
 * the payees' captured shares. Found through a GIN index over the splits of open payments only
 * (migration 014), so it costs the account's open split payments, not their history.
 */
async function pendingAsSplitPayee(tx: Tx, a: PendingAccount): Promise<PendingAmounts> {
  const containing = tx.json([{ to_account: a.account_number }]);
  const [payments, refunds] = await Promise.all([
    tx<
      {
        splits: StoredSplit[];
        status: string;
        capture_method: string;
        pending_action: string | null;
        pending_action_amount: bigint | null;
      }[]
    >`
      select splits, status, capture_method, pending_action, pending_action_amount from payments
       where splits @> ${containing} and splits is not null
         and (status = 'pending' or pending_action is not null)`,
    tx<{ splits: StoredSplit[]; amount_captured: bigint; refund: bigint }[]>`
      select p.splits, p.amount_captured, r.amount as refund
        from refunds r join payments p on p.id = r.payment_id
       where r.status = 'pending' and p.splits @> ${containing}`,
  ]);
  const shareOf = (splits: StoredSplit[], total: bigint, weights = splits.map((x) => BigInt(x.amount))) =>
    proRata(total, weights)[splits.findIndex((x) => x.to_account === a.account_number)] ?? 0n;
  let incoming = 0n;
  for (const p of payments) {
    if (p.status === "pending" && p.capture_method === "automatic") {
      incoming += BigInt(p.splits.find((x) => x.to_account === a.account_number)?.amount ?? 0);
    } else if (p.pending_action === "capture" && p.pending_action_amount) {
      incoming += shareOf(p.splits, p.pending_action_amount);
    }
  }
  let outgoing = 0n;
  for (const r of refunds) {
    const captured = proRata(
      r.amount_captured,
      r.splits.map((x) => BigInt(x.amount)),
    );
    if (captured.every((c) => c > 0n)) outgoing += shareOf(r.splits, r.refund, captured);
  }
  return { outgoing, incoming };
}

export interface BalanceNow {
  available: bigint;
  held: bigint;
  pending: PendingAmounts;
  now: Date;
}

/**
 * The account's posted balances and pending amounts, read in one snapshot: one statement, plus the
 * split payees' side in the same repeatable-read transaction.
 */
export async function balanceWithPending(db: Db, account: PendingAccount): Promise<BalanceNow> {
  if ("begin" in db) {
    return (db as Sql).begin("isolation level repeatable read read only", (tx) => readBalance(tx, account));
  }
  return readBalance(db as Tx, account);
}

async function readBalance(db: Tx, account: PendingAccount): Promise<BalanceNow> {
  const parts = SOURCES.map((source) => source(db, account)).filter((p) => p !== null);
  const work = parts.slice(1).reduce((all, part) => db`${all} union all (${part})`, db`(${parts[0]!})`);
  const [row] = await db<
    { available: bigint; held: bigint; outgoing: bigint; incoming: bigint; now: Date }[]
  >`
    select a.balance as available, a.held_balance as held, now() as now,
           coalesce(sum(w.outgoing), 0)::bigint as outgoing, coalesce(sum(w.incoming), 0)::bigint as incoming
      from accounts a
      left join (${work}) as w (outgoing, incoming) on true
     where a.account_number = ${account.account_number}
     group by a.account_number`;
  if (!row) throw new Error(`account ${account.account_number} vanished`);
  const splits = await pendingAsSplitPayee(db, account);
  return {
    available: row.available,
    held: row.held,
    pending: { outgoing: row.outgoing + splits.outgoing, incoming: row.incoming + splits.incoming },
    now: row.now,
  };
}
