import type { Ctx } from "../context.ts";
import type { Tx } from "../db/index.ts";
import { ForbiddenError, NotFoundError, ValidationError } from "../errors.ts";
import { type IdempotentRequest, type IdempotentResult, idempotent } from "../idempotency.ts";
import { newId } from "../ids.ts";
import { partitionOf } from "../jobs.ts";
import { type AccountRow, systemAccountNumber } from "../ledger/index.ts";
import { parseAmount, parseCurrency } from "../money.ts";
import { paymentObject } from "./serialize.ts";
import type { CaptureMethod, PaymentRow, PaymentType } from "./types.ts";

export interface PaymentInput {
  from_account: string;
  to_account: string;
  amount: unknown;
  currency: unknown;
  description?: string | null;
  metadata?: Record<string, string> | null;
  capture_method?: CaptureMethod;
}

export interface TransferInput {
  to: string;
  amount: unknown;
  currency: unknown;
  from_account?: string | null;
  description?: string | null;
  metadata?: Record<string, string> | null;
}

export interface DepositInput {
  account_number: string;
  amount: unknown;
  currency: unknown;
  description?: string | null;
}

/** An unknown account and one the caller may not use look alike: 404 with the field's pointer. */
function accountMissing(pointer: string): NotFoundError {
  return new NotFoundError("account", "account_not_found", pointer);
}

/**
 * Reads accounts without locking them: the payment row's foreign keys keep them in existence, and
 * a FOR SHARE here would queue acceptance behind the posting workers' row locks on hot accounts.
 */
async function loadAccounts(tx: Tx, numbers: string[]): Promise<Map<string, AccountRow>> {
  const rows = await tx<AccountRow[]>`select * from accounts where account_number = any(${numbers}::text[])`;
  return new Map(rows.map((r) => [r.account_number, r]));
}

async function loadAccount(tx: Tx, accountNumber: string): Promise<AccountRow | null> {
  return (await loadAccounts(tx, [accountNumber])).get(accountNumber) ?? null;
}

/** Inserts the pending payment and its posting operation; enqueues after COMMIT. */
async function insertPending(
  ctx: Ctx,
  tx: Tx,
  afterCommit: (fn: () => Promise<void>) => void,
  p: {
    type: PaymentType;
    from: string;
    to: string;
    amount: bigint;
    currency: string;
    description: string | null;
    metadata: Record<string, string>;
    captureMethod: CaptureMethod;
  },
): Promise<PaymentRow> {
  const op = { id: newId("op"), partition: partitionOf(p.from, ctx.config.POSTING_PARTITIONS) };
  // The payment and its posting operation in one statement (one round trip).
  const [payment] = await tx<PaymentRow[]>`
    with payment as (
      insert into payments (id, type, from_account, to_account, amount, currency, capture_method, description, metadata, created_by)
      values (${newId("pay")}, ${p.type}, ${p.from}, ${p.to}, ${String(p.amount)}::bigint, ${p.currency}, ${p.captureMethod},
              ${p.description}, ${tx.json(p.metadata)}, ${ctx.principal.userId})
      returning *
    ), op as (
      insert into operations (id, partition, kind, payment_id)
      select ${op.id}, ${op.partition}, 'payment', id from payment
    )
    select * from payment`;
  if (!payment) throw new Error("insert returned no row");
  afterCommit(() => ctx.queues.enqueuePosting(op));
  ctx.metrics.paymentsAccepted.inc({ type: p.type });
  return payment;
}

/** Checks both ends of a movement: they exist, are usable, differ, and share the currency. */
function checkEnds(from: AccountRow, to: AccountRow, currency: string, toPointer: string): void {
  if (from.account_number === to.account_number) {
    throw ValidationError.field(
      toPointer,
      "The destination must differ from the source account.",
      "same_account",
    );
  }
  for (const [acc, pointer] of [
    [from, "/from_account"],
    [to, toPointer],
  ] as const) {
    if (acc.status !== "active")
      throw ValidationError.field(pointer, "This account is closed.", "account_closed");
  }
  if (from.currency !== to.currency) {
    throw ValidationError.field(
      toPointer,
      `The accounts hold different currencies (${from.currency} and ${to.currency}).`,
      "currency_mismatch",
    );
  }
  if (currency !== from.currency) {
    throw ValidationError.field(
      "/currency",
      `The accounts hold ${from.currency}, not ${currency}.`,
      "currency_mismatch",
    );
  }
}

function mayDebit(ctx: Ctx, account: AccountRow | null): account is AccountRow {
  if (account?.kind !== "user") return false;
  return ctx.principal.role === "admin" || account.owner_id === ctx.principal.userId;
}

function respond(payment: PaymentRow) {
  return { status: 202, body: paymentObject(payment) };
}

/** Between two user accounts (payments, transfers): both ends checked, then the pending payment. */
async function acceptBetween(
  ctx: Ctx,
  tx: Tx,
  afterCommit: (fn: () => Promise<void>) => void,
  ends: { from: AccountRow; to: AccountRow; toPointer: string; amount: bigint; currency: string },
  fields: {
    type: PaymentType;
    description: string | null;
    metadata: Record<string, string>;
    captureMethod: CaptureMethod;
  },
) {
  checkEnds(ends.from, ends.to, ends.currency, ends.toPointer);
  const payment = await insertPending(ctx, tx, afterCommit, {
    ...fields,
    from: ends.from.account_number,
    to: ends.to.account_number,
    amount: ends.amount,
    currency: ends.currency,
  });
  return respond(payment);
}

/** POST /payments: the caller's account pays another account. */
export function createPayment(
  ctx: Ctx,
  input: PaymentInput,
  req: IdempotentRequest,
): Promise<IdempotentResult> {
  const currency = parseCurrency(input.currency);
  const amount = parseAmount(input.amount, currency);
  return idempotent(ctx, req, async (tx, afterCommit) => {
    const accounts = await loadAccounts(tx, [input.from_account, input.to_account]);
    const from = accounts.get(input.from_account) ?? null;
    if (!mayDebit(ctx, from)) throw accountMissing("/from_account");
    const to = accounts.get(input.to_account) ?? null;
    if (to?.kind !== "user") throw accountMissing("/to_account");
    return acceptBetween(
      ctx,
      tx,
      afterCommit,
      { from, to, toPointer: "/to_account", amount, currency },
      {
        type: "payment",
        description: input.description ?? null,
        metadata: input.metadata ?? {},
        captureMethod: input.capture_method ?? "automatic",
      },
    );
  });
}

/** POST /transfers: P2P to an account number or a user's email. */
export function createTransfer(
  ctx: Ctx,
  input: TransferInput,
  req: IdempotentRequest,
): Promise<IdempotentResult> {
  const currency = parseCurrency(input.currency);
  const amount = parseAmount(input.amount, currency);
  return idempotent(ctx, req, async (tx, afterCommit) => {
    let from: AccountRow | null;
    if (input.from_account) {
      from = await loadAccount(tx, input.from_account);
    } else {
      const [own] = await tx<AccountRow[]>`
        select * from accounts where owner_id = ${ctx.principal.userId} and currency = ${currency} and status = 'active'
         order by created_at limit 1`;
      from = own ?? null;
    }
    if (!mayDebit(ctx, from)) throw accountMissing("/from_account");
    let to: AccountRow | null;
    if (input.to.includes("@")) {
      const [row] = await tx<AccountRow[]>`
        select a.* from accounts a join users u on u.id = a.owner_id
         where lower(u.email) = lower(${input.to}) and a.currency = ${currency} and a.status = 'active'
         order by a.created_at limit 1`;
      to = row ?? null;
    } else {
      to = await loadAccount(tx, input.to);
    }
    if (to?.kind !== "user") {
      throw new NotFoundError(`recipient with a ${currency} account`, "recipient_not_found", "/to");
    }
    return acceptBetween(
      ctx,
      tx,
      afterCommit,
      { from, to, toPointer: "/to", amount, currency },
      {
        type: "transfer",
        description: input.description ?? null,
        metadata: input.metadata ?? {},
        captureMethod: "automatic",
      },
    );
  });
}

/** POST /deposits (admin): money enters from the currency's external funding account. */
export function createDeposit(
  ctx: Ctx,
  input: DepositInput,
  req: IdempotentRequest,
): Promise<IdempotentResult> {
  if (ctx.principal.role !== "admin") throw new ForbiddenError("forbidden", "Only admins may make deposits.");
  const currency = parseCurrency(input.currency);
  const amount = parseAmount(input.amount, currency);
  return idempotent(ctx, req, async (tx, afterCommit) => {
    const to = await loadAccount(tx, input.account_number);
    if (to?.kind !== "user") throw accountMissing("/account_number");
    if (to.status !== "active")
      throw ValidationError.field("/account_number", "This account is closed.", "account_closed");
    if (to.currency !== currency) {
      throw ValidationError.field(
        "/currency",
        `The account holds ${to.currency}, not ${currency}.`,
        "currency_mismatch",
      );
    }
    const payment = await insertPending(ctx, tx, afterCommit, {
      type: "deposit",
      from: systemAccountNumber("external", currency),
      to: to.account_number,
      amount,
      currency,
      description: input.description ?? null,
      metadata: {},
      captureMethod: "automatic",
    });
    return respond(payment);
  });
}
