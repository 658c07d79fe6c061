import type { Db, Tx } from "../db/index.ts";
import { DeclineError } from "../errors.ts";
import { newId } from "../ids.ts";

export * from "./accounts.ts";

export type Direction = "DEBIT" | "CREDIT";

export interface Leg {
  account: string;
  direction: Direction;
  amount: bigint;
}

export interface PostingInput {
  /** What kind of movement: payment, transfer, deposit, authorization, capture, release, refund. */
  kind: string;
  /** Unique cause, e.g. `payment:pay_...`: the database refuses a second posting of it. */
  reference: string;
  description?: string | null;
  paymentId?: string | null;
  refundId?: string | null;
  legs: Leg[];
  /** Changes to accounts' `held_balance` (money of theirs moving in or out of the holds account). */
  holdChanges?: { account: string; delta: bigint }[];
}

export type PostingResult =
  | { ok: true; transactionId: string; createdAt: Date }
  | { ok: false; code: string; message: string };

interface LockedAccount {
  account_number: string;
  currency: string;
  allow_overdraft: boolean;
  status: string;
  kind: string;
  balance: bigint;
  held_balance: bigint;
}

function signed(leg: Leg): bigint {
  return leg.direction === "CREDIT" ? leg.amount : -leg.amount;
}

/**
 * A posting that cannot be posted as written (unbalanced, a leg that is not positive, releasing more
 * than is held): the operation behind it is broken, never a user's decline, and posting it again
 * fails the same way.
 */
export class MalformedPostingError extends Error {
  override readonly name = "MalformedPostingError";
}

/** A posting whose legs do not balance is a bug in our code, never a user's decline. */
function assertWellFormed(p: PostingInput, accounts: Map<string, LockedAccount>): PostingResult | null {
  if (p.legs.length < 2) throw new MalformedPostingError(`posting ${p.reference} needs at least two legs`);
  const net = new Map<string, bigint>();
  for (const leg of p.legs) {
    if (leg.amount <= 0n) throw new MalformedPostingError(`posting ${p.reference} has a non-positive leg`);
    const acc = accounts.get(leg.account);
    if (!acc)
      return { ok: false, code: "account_not_found", message: `Account ${leg.account} does not exist.` };
    net.set(acc.currency, (net.get(acc.currency) ?? 0n) + signed(leg));
  }
  for (const [currency, sum] of net) {
    if (sum !== 0n) throw new MalformedPostingError(`posting ${p.reference} is unbalanced in ${currency}`);
  }
  return null;
}

/**
 * What an account's status refuses (migration 010): a closed account takes no leg at all
 * (`account_closed`), a frozen one takes credits but no debit (`account_frozen`). One exception,
 * whatever the status: held money going back to its owner (a release, or the uncaptured rest of a
 * capture: a CREDIT to an account whose held balance the same posting lowers) was the account's
 * already, so a hold on a frozen account can always be canceled, expire or be captured. (A closed
 * account holds nothing: the database refuses closing it otherwise.) Closed wins over frozen.
 */
function refusedByStatus(p: PostingInput, accounts: Map<string, LockedAccount>): PostingResult | null {
  const returning = new Set((p.holdChanges ?? []).filter((h) => h.delta < 0n).map((h) => h.account));
  const refused = p.legs.filter((leg) => {
    const status = accounts.get(leg.account)?.status;
    if (status === "active") return false;
    if (leg.direction === "CREDIT" && returning.has(leg.account)) return false;
    return status !== "frozen" || leg.direction === "DEBIT";
  });
  const closed = refused.find((leg) => accounts.get(leg.account)?.status !== "frozen");
  if (closed) return { ok: false, code: "account_closed", message: `Account ${closed.account} is closed.` };
  const frozen = refused[0];
  if (frozen) return { ok: false, code: "account_frozen", message: `Account ${frozen.account} is frozen.` };
  return null;
}

/**
 * Posts many ledger transactions inside the caller's database transaction, in the given order.
 * Every touched account is locked once, in account-number order (so concurrent posters never
 * deadlock), FOR NO KEY UPDATE (so inserts referencing the account are not blocked), then each posting is applied in memory: one that would overdraw an account, or
 * touches a missing one or one its status refuses (refusedByStatus), is declined and leaves no trace; the rest are written with
 * one INSERT per table and one UPDATE per account, however many postings touch it.
 */
export async function postBatch(tx: Tx, postings: PostingInput[]): Promise<PostingResult[]> {
  if (postings.length === 0) return [];
  const touched = [
    ...new Set(
      postings.flatMap((p) => [
        ...p.legs.map((l) => l.account),
        ...(p.holdChanges ?? []).map((h) => h.account),
      ]),
    ),
  ].sort();
  const locked = await tx<LockedAccount[]>`
    select account_number, currency, allow_overdraft, status, kind, balance, held_balance
      from accounts where account_number = any(${touched}::text[])
     order by account_number
       for no key update`;
  const accounts = new Map(locked.map((a) => [a.account_number, { ...a }]));
  const dirty = new Set<string>();
  const results: PostingResult[] = [];
  const txRows: {
    id: string;
    kind: string;
    reference: string;
    payment_id: string | null;
    refund_id: string | null;
    description: string | null;
  }[] = [];
  const entryRows: (string | bigint)[][] = [];
  const holdRows: { transaction_id: string; account_number: string; delta: string }[] = [];
  const createdAt = new Date();

  for (const p of postings) {
    const malformed = assertWellFormed(p, accounts);
    if (malformed) {
      results.push(malformed);
      continue;
    }
    const refused = refusedByStatus(p, accounts);
    if (refused) {
      results.push(refused);
      continue;
    }
    // Net effect per account first: a posting that debits and credits one account nets out.
    const delta = new Map<string, bigint>();
    for (const leg of p.legs) delta.set(leg.account, (delta.get(leg.account) ?? 0n) + signed(leg));
    const short = [...delta].find(([acc, d]) => {
      const a = accounts.get(acc)!;
      return !a.allow_overdraft && a.balance + d < 0n;
    });
    if (short) {
      results.push({
        ok: false,
        code: "insufficient_funds",
        message: `Account ${short[0]} has insufficient funds.`,
      });
      continue;
    }
    for (const change of p.holdChanges ?? []) {
      const a = accounts.get(change.account);
      if (!a || a.held_balance + change.delta < 0n)
        throw new MalformedPostingError(`posting ${p.reference} releases more than held`);
    }
    const transactionId = newId("tx");
    txRows.push({
      id: transactionId,
      kind: p.kind,
      reference: p.reference,
      payment_id: p.paymentId ?? null,
      refund_id: p.refundId ?? null,
      description: p.description ?? null,
    });
    for (const leg of p.legs) {
      const a = accounts.get(leg.account)!;
      a.balance += signed(leg);
      dirty.add(a.account_number);
      entryRows.push([transactionId, a.account_number, a.currency, leg.direction, leg.amount, a.balance]);
    }
    for (const change of p.holdChanges ?? []) {
      const a = accounts.get(change.account)!;
      a.held_balance += change.delta;
      dirty.add(a.account_number);
      holdRows.push({
        transaction_id: transactionId,
        account_number: a.account_number,
        delta: String(change.delta),
      });
    }
    results.push({ ok: true, transactionId, createdAt });
  }

  if (txRows.length > 0) {
    // Sent together (postgres.js pipelines a transaction's concurrent queries, in order): the
    // account locks taken above are held for one round trip of writes, not four.
    const changed = [...dirty].map((n) => accounts.get(n)!);
    await Promise.all([
      // Arrays, not a VALUES list: one statement text (prepared once) whatever the batch size.
      tx`
        insert into transactions (id, kind, reference, payment_id, refund_id, description)
        select * from unnest(
          ${txRows.map((r) => r.id)}::text[], ${txRows.map((r) => r.kind)}::text[],
          ${txRows.map((r) => r.reference)}::text[], ${txRows.map((r) => r.payment_id)}::text[],
          ${txRows.map((r) => r.refund_id)}::text[], ${txRows.map((r) => r.description)}::text[])`,
      tx`
        insert into ledger_entries (transaction_id, account_number, currency, direction, amount, balance_after)
        select a, b, c, d, e, f from unnest(
          ${entryRows.map((r) => r[0] as string)}::text[],
          ${entryRows.map((r) => r[1] as string)}::text[],
          ${entryRows.map((r) => r[2] as string)}::char(3)[],
          ${entryRows.map((r) => r[3] as string)}::text[],
          ${entryRows.map((r) => String(r[4]))}::bigint[],
          ${entryRows.map((r) => String(r[5]))}::bigint[]
        ) with ordinality as t(a, b, c, d, e, f, n) order by n`,
      ...(holdRows.length > 0
        ? [
            tx`
              insert into hold_movements (transaction_id, account_number, delta)
              select * from unnest(${holdRows.map((h) => h.transaction_id)}::text[],
                                   ${holdRows.map((h) => h.account_number)}::text[],
                                   ${holdRows.map((h) => h.delta)}::bigint[])`,
          ]
        : []),
      tx`
        update accounts set balance = u.balance, held_balance = u.held_balance
          from unnest(
            ${changed.map((a) => a.account_number)}::text[],
            ${changed.map((a) => String(a.balance))}::bigint[],
            ${changed.map((a) => String(a.held_balance))}::bigint[]
          ) as u(account_number, balance, held_balance)
         where accounts.account_number = u.account_number`,
    ]);
  }
  return results;
}

/** Posts one ledger transaction; a decline is thrown as a DeclineError with its code. */
export async function post(tx: Tx, posting: PostingInput): Promise<{ transactionId: string }> {
  const [result] = await postBatch(tx, [posting]);
  if (!result) throw new Error("postBatch returned nothing");
  if (!result.ok) throw new DeclineError(result.code, result.message);
  return { transactionId: result.transactionId };
}

export interface Balances {
  /** Sum of the account's own entries: what it may spend now (`available_balance`). */
  posted: bigint;
  /** Its money sitting in the holds account. */
  held: bigint;
}

export async function getBalances(db: Db, accountNumber: string): Promise<Balances | null> {
  const [row] = await db<{ balance: bigint; held_balance: bigint }[]>`
    select balance, held_balance from accounts where account_number = ${accountNumber}`;
  return row ? { posted: row.balance, held: row.held_balance } : null;
}

/** Posted balance at an instant: the running balance after the last entry made at or before it. */
export async function postedBalanceAt(db: Db, accountNumber: string, at: Date): Promise<bigint> {
  const [row] = await db<{ balance_after: bigint }[]>`
    select balance_after from ledger_entries
     where account_number = ${accountNumber} and created_at <= ${at}
     order by id desc limit 1`;
  return row?.balance_after ?? 0n;
}

/** Held balance at an instant: the sum of the account's hold movements made at or before it. */
export async function heldBalanceAt(db: Db, accountNumber: string, at: Date): Promise<bigint> {
  const [row] = await db<{ held: bigint }[]>`
    select coalesce(sum(delta), 0)::bigint as held from hold_movements
     where account_number = ${accountNumber} and created_at <= ${at}`;
  return row?.held ?? 0n;
}

export interface HistoryEntry {
  id: bigint;
  transaction_id: string;
  payment_id: string | null;
  refund_id: string | null;
  account_number: string;
  currency: string;
  direction: Direction;
  amount: bigint;
  balance_after: bigint;
  description: string | null;
  kind: string;
  created_at: Date;
}

/**
 * Entries of the given accounts, newest first, `limit + 1` fetched so the caller knows whether more
 * follow. `before` is the id of the last entry of the previous page (ids only grow).
 */
export async function history(
  db: Db,
  opts: { accounts: string[]; limit: number; before?: bigint | null },
): Promise<{ entries: HistoryEntry[]; hasMore: boolean }> {
  const rows = await db<HistoryEntry[]>`
    select e.id, e.transaction_id, t.payment_id, t.refund_id, e.account_number, e.currency, e.direction,
           e.amount, e.balance_after, t.description, t.kind, e.created_at
      from ledger_entries e join transactions t on t.id = e.transaction_id
     where e.account_number = any(${opts.accounts}::text[])
       ${opts.before != null ? db`and e.id < ${String(opts.before)}::bigint` : db``}
     order by e.id desc
     limit ${opts.limit + 1}`;
  return { entries: rows.slice(0, opts.limit), hasMore: rows.length > opts.limit };
}

export interface LedgerCheck {
  trialBalance: { currency: string; net: bigint }[];
  mismatchedAccounts: { account_number: string; balance: bigint; entries_sum: bigint }[];
  heldMismatch: { currency: string; held_total: bigint; holds_account_balance: bigint }[];
  heldMovementMismatch: { account_number: string; held_balance: bigint; movements_sum: bigint }[];
}

/**
 * The ledger's health: per currency, credits minus debits over all entries (must be 0); accounts
 * whose balance differs from the sum of their entries (must be none); and per currency, the sum of
 * accounts' held balances against the holds account's balance (must match).
 */
export async function verifyLedger(db: Db): Promise<LedgerCheck> {
  const trialBalance = await db<{ currency: string; net: bigint }[]>`
    select currency, coalesce(sum(case when direction = 'CREDIT' then amount else -amount end), 0)::bigint as net
      from ledger_entries group by currency order by currency`;
  const mismatchedAccounts = await db<{ account_number: string; balance: bigint; entries_sum: bigint }[]>`
    select a.account_number, a.balance, coalesce(s.total, 0)::bigint as entries_sum
      from accounts a
      left join (
        select account_number, sum(case when direction = 'CREDIT' then amount else -amount end) as total
          from ledger_entries group by account_number
      ) s on s.account_number = a.account_number
     where a.balance <> coalesce(s.total, 0)
     order by a.account_number`;
  const heldMismatch = await db<{ currency: string; held_total: bigint; holds_account_balance: bigint }[]>`
    select h.currency, coalesce(u.total, 0)::bigint as held_total, h.balance as holds_account_balance
      from accounts h
      left join (select currency, sum(held_balance) as total from accounts where kind = 'user' group by currency) u
        on u.currency = h.currency
     where h.system_role = 'holds' and h.balance <> coalesce(u.total, 0)`;
  const heldMovementMismatch = await db<
    { account_number: string; held_balance: bigint; movements_sum: bigint }[]
  >`
    select a.account_number, a.held_balance, coalesce(m.total, 0)::bigint as movements_sum
      from accounts a
      left join (select account_number, sum(delta) as total from hold_movements group by account_number) m
        on m.account_number = a.account_number
     where a.held_balance <> coalesce(m.total, 0)`;
  return { trialBalance, mismatchedAccounts, heldMismatch, heldMovementMismatch };
}
