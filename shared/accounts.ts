import { type Ctx, canReadAll } from "./context.ts";
import { ForbiddenError, NotFoundError } from "./errors.ts";
import {
  type AccountRow,
  findAccount,
  type HistoryEntry,
  heldBalanceAt,
  history,
  openAccount,
  postedBalanceAt,
} from "./ledger/index.ts";
import { parseCurrency } from "./money.ts";
import { decodeCursor, encodeCursor, type Page, pageOf } from "./pagination.ts";
import { balanceWithPending } from "./payments/pending.ts";

/**
 * Account verbs. A caller sees their own accounts; ops and admin see every account, system ones
 * included. An account the caller may not see does not exist for them (404, never 403).
 */

export interface Balance {
  account_number: string;
  currency: string;
  /** Sum of the account's own entries: what it may spend. */
  available: bigint;
  /** Its money sitting in the holds account. */
  held: bigint;
  /**
   * Accepted, not yet posted debits and credits of its entries (shared/payments/pending.ts), read in
   * the same snapshot as `available`; null for a past instant (what was pending then is not kept).
   */
  pendingOutgoing: bigint | null;
  pendingIncoming: bigint | null;
  asOf: Date;
}

/** `<created_at in epoch microseconds>.<account_number>`: accounts are listed by creation time. */
const ACCOUNT_CURSOR = /^(\d{1,18})\.((?:ACC|SYS)_[A-Z0-9_]{1,64})$/;
const ENTRY_CURSOR = /^[1-9]\d{0,17}$/;

type ListedAccount = AccountRow & { created_us: bigint };

/** Opens another wallet for the caller. ops is a read-only role: it holds no money. */
export async function openWallet(ctx: Ctx, input: { currency: unknown }): Promise<AccountRow> {
  if (ctx.principal.role === "ops") {
    throw new ForbiddenError("forbidden", "The ops role cannot hold accounts.");
  }
  const currency = parseCurrency(input.currency);
  // The currency's system accounts and the wallet: together or not at all.
  return ctx.sql.begin((tx) => openAccount(tx, { ownerId: ctx.principal.userId, currency }));
}

export async function listAccounts(
  ctx: Ctx,
  input: { limit: number; cursor?: string },
): Promise<Page<AccountRow>> {
  const { sql, principal } = ctx;
  const after = decodeCursor(input.cursor, ACCOUNT_CURSOR)?.match(ACCOUNT_CURSOR);
  const rows = await sql<ListedAccount[]>`
    select *, (extract(epoch from created_at) * 1000000)::bigint as created_us from accounts
     where true
       ${canReadAll(principal) ? sql`` : sql`and owner_id = ${principal.userId}`}
       ${
         after
           ? sql`and (created_at, account_number) <
                   ('epoch'::timestamptz + ${after[1]!}::bigint * interval '1 microsecond', ${after[2]!})`
           : sql``
       }
     order by created_at desc, account_number desc
     limit ${input.limit + 1}`;
  return pageOf(
    rows,
    input.limit,
    (r) => `${r.created_us}.${r.account_number}`,
    ({ created_us: _, ...account }) => account,
  );
}

/** The account, if the caller may see it. */
export async function getAccount(ctx: Ctx, accountNumber: string): Promise<AccountRow> {
  const { sql, principal } = ctx;
  const account = canReadAll(principal)
    ? await findAccount(sql, accountNumber)
    : ((
        await sql<AccountRow[]>`
          select * from accounts where account_number = ${accountNumber} and owner_id = ${principal.userId}`
      )[0] ?? null);
  if (!account) throw new NotFoundError("account");
  return account;
}

/**
 * Balances now, with the pending amounts, or as they stood at `at` (a future instant is answered
 * as of now; a past one has no pending amounts).
 */
export async function getBalance(ctx: Ctx, accountNumber: string, at?: Date): Promise<Balance> {
  const account = await getAccount(ctx, accountNumber);
  const base = { account_number: account.account_number, currency: account.currency };
  if (at) {
    const [clock] = await ctx.sql<{ now: Date }[]>`select now()`;
    if (at < (clock?.now ?? new Date())) {
      const [available, held] = await Promise.all([
        postedBalanceAt(ctx.sql, accountNumber, at),
        heldBalanceAt(ctx.sql, accountNumber, at),
      ]);
      return { ...base, available, held, pendingOutgoing: null, pendingIncoming: null, asOf: at };
    }
  }
  const b = await balanceWithPending(ctx.sql, account);
  return {
    ...base,
    available: b.available,
    held: b.held,
    pendingOutgoing: b.pending.outgoing,
    pendingIncoming: b.pending.incoming,
    asOf: b.now,
  };
}

async function entriesOf(
  ctx: Ctx,
  accounts: string[],
  input: { limit: number; cursor?: string },
): Promise<Page<HistoryEntry>> {
  const before = decodeCursor(input.cursor, ENTRY_CURSOR);
  if (accounts.length === 0) return { data: [], has_more: false, next_cursor: null };
  const page = await history(ctx.sql, {
    accounts,
    limit: input.limit,
    before: before ? BigInt(before) : null,
  });
  const last = page.entries.at(-1);
  return {
    data: page.entries,
    has_more: page.hasMore,
    next_cursor: page.hasMore && last ? encodeCursor(last.id) : null,
  };
}

/** One account's ledger entries, newest first. */
export async function accountHistory(
  ctx: Ctx,
  accountNumber: string,
  input: { limit: number; cursor?: string },
): Promise<Page<HistoryEntry>> {
  const account = await getAccount(ctx, accountNumber);
  return entriesOf(ctx, [account.account_number], input);
}

/** Entries of every account the caller owns, newest first. */
export async function callerHistory(
  ctx: Ctx,
  input: { limit: number; cursor?: string },
): Promise<Page<HistoryEntry>> {
  const owned = await ctx.sql<{ account_number: string }[]>`
    select account_number from accounts where owner_id = ${ctx.principal.userId}`;
  return entriesOf(
    ctx,
    owned.map((a) => a.account_number),
    input,
  );
}
