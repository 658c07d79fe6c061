import { audit, byCaller } from "../audit.ts";
import { type Ctx, canReadAll } from "../context.ts";
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from "../errors.ts";
import { type IdempotentRequest, type IdempotentResult, idempotent } from "../idempotency.ts";
import { newId } from "../ids.ts";
import { accountOrderKey, partitionOf } from "../jobs.ts";
import { ensureSystemAccounts, findAccount, post, systemAccountNumber } from "../ledger/index.ts";
import { parseAmount, parseCurrency } from "../money.ts";
import { decodeCursor, type Page, pageOf } from "../pagination.ts";
import { ownersOf, payoutEventOf, saveEvents, savePayouts } from "../payments/posting.ts";
import {
  applyPayoutTransition,
  type PayoutSettlement,
  type PayoutStatus,
  payoutTransitionFor,
} from "../payments/state.ts";
import { type DestinationInput, parseDestination } from "./destination.ts";
import { type PayoutObject, payoutObject } from "./serialize.ts";
import type { PayoutRow } from "./types.ts";

/**
 * Payouts: money from a user's account to a bank account outside. Accepted here (202, `pending`)
 * with an operation in the outbox, so the workers post it (user -> in transit) in order with the
 * account's other postings; then ops settle it here, synchronously, in one transaction with its
 * ledger movement, event and audit row: paid (in transit -> external) or failed (back to the user).
 */

export interface PayoutInput {
  from_account: string;
  amount: unknown;
  currency: string;
  destination: DestinationInput;
  description?: string | null | undefined;
}

const notFound = () => new NotFoundError("payout", "payout_not_found");

/** POST /payouts: the account's owner (or an admin). */
export function createPayout(
  ctx: Ctx,
  input: PayoutInput,
  req: IdempotentRequest,
): Promise<IdempotentResult> {
  const currency = parseCurrency(input.currency);
  const amount = parseAmount(input.amount, currency);
  const destination = parseDestination(input.destination);
  return idempotent(ctx, req, async (tx, afterCommit) => {
    const account = await findAccount(tx, input.from_account);
    if (
      account?.kind !== "user" ||
      (ctx.principal.role !== "admin" && account.owner_id !== ctx.principal.userId)
    ) {
      throw new NotFoundError("account", "account_not_found", "/from_account");
    }
    if (account.status !== "active") {
      throw ValidationError.field(
        "/from_account",
        `This account is ${account.status}.`,
        `account_${account.status}`,
      );
    }
    if (account.currency !== currency) {
      throw ValidationError.field(
        "/currency",
        `The account holds ${account.currency}, not ${currency}.`,
        "currency_mismatch",
      );
    }
    await ensureSystemAccounts(tx, currency);
    const [payout] = await tx<PayoutRow[]>`
      insert into payouts (id, from_account, amount, currency, destination, description, created_by)
      values (${newId("po")}, ${account.account_number}, ${String(amount)}::bigint, ${currency},
              ${tx.json(destination as never)}, ${input.description ?? null}, ${ctx.principal.userId})
      returning *`;
    await tx`
      insert into operations (id, order_key, kind, payout_id, amount)
      values (${newId("op")}, ${accountOrderKey(account.account_number)}, 'payout', ${payout!.id},
              ${String(amount)}::bigint)`;
    const body = payoutObject(payout!);
    await audit(tx, {
      ...byCaller(ctx),
      action: "payout.create",
      target: { type: "payout", id: payout!.id },
      after: body,
    });
    afterCommit(() =>
      ctx.queues.nudgePosting(partitionOf(account.account_number, ctx.config.POSTING_PARTITIONS)),
    );
    return { status: 202, body };
  });
}

/** A payout the caller may see: from one of their accounts, or any for ops/admin; else 404. */
async function findVisiblePayout(ctx: Ctx, id: string): Promise<PayoutRow> {
  const { sql } = ctx;
  const [row] = await sql<PayoutRow[]>`
    select o.* from payouts o
     where o.id = ${id}
       ${canReadAll(ctx.principal) ? sql`` : sql`and exists (select 1 from accounts a where a.account_number = o.from_account and a.owner_id = ${ctx.principal.userId})`}`;
  if (!row) throw notFound();
  return row;
}

export async function getPayout(ctx: Ctx, id: string): Promise<PayoutObject> {
  return payoutObject(await findVisiblePayout(ctx, id));
}

/** GET /payouts: the caller's payouts (ops/admin: all), newest first. */
export async function listPayouts(
  ctx: Ctx,
  input: { status?: PayoutStatus | undefined; limit: number; cursor?: string | undefined },
): Promise<Page<PayoutObject>> {
  const before = decodeCursor(input.cursor, /^po_[0-9A-Z]{26}$/);
  const { sql } = ctx;
  const rows = await sql<PayoutRow[]>`
    select o.* from payouts o
     where true
       ${canReadAll(ctx.principal) ? sql`` : sql`and o.from_account in (select account_number from accounts where owner_id = ${ctx.principal.userId})`}
       ${input.status ? sql`and o.status = ${input.status}` : sql``}
       ${before ? sql`and o.id < ${before}` : sql``}
     order by o.id desc
     limit ${input.limit + 1}`;
  return pageOf(rows, input.limit, (r) => r.id, payoutObject);
}

/**
 * POST /payouts/{id}/mark-paid and /mark-failed (ops or admin): settles a payout in transit, in one
 * transaction: the ledger movement out of the in-transit account (to external, or back to the
 * user), the payout's new state (the table, shared/payments/state.ts), its event and the audit row.
 * Anything but an in-transit payout: 409 `payout_not_in_transit`.
 */
export function settlePayout(
  ctx: Ctx,
  id: string,
  action: PayoutSettlement,
  input: { reason?: string | undefined },
  req: IdempotentRequest,
): Promise<IdempotentResult> {
  if (ctx.principal.role !== "ops" && ctx.principal.role !== "admin") {
    throw new ForbiddenError("forbidden", "Only ops or admins may settle payouts.");
  }
  return idempotent(ctx, req, async (tx) => {
    const [payout] = await tx<PayoutRow[]>`select * from payouts where id = ${id} for no key update`;
    if (!payout) throw notFound();
    if (!payoutTransitionFor(payout, action)) {
      throw new ConflictError(
        "payout_not_in_transit",
        `Only a payout in transit can be settled; this one is ${payout.status}.`,
      );
    }
    const inTransit = systemAccountNumber("payouts_in_transit", payout.currency);
    const to =
      action === "mark_paid" ? systemAccountNumber("external", payout.currency) : payout.from_account;
    const { transactionId } = await post(tx, {
      kind: action === "mark_paid" ? "payout_paid" : "payout_return",
      reference: `${action === "mark_paid" ? "payout_paid" : "payout_return"}:${payout.id}`,
      description: action === "mark_paid" ? "payout paid" : `payout failed: ${input.reason ?? ""}`,
      legs: [
        { account: inTransit, direction: "DEBIT", amount: payout.amount },
        { account: to, direction: "CREDIT", amount: payout.amount },
      ],
    });
    const done = applyPayoutTransition(payout, action, {
      now: new Date(),
      transactionId,
      amount: payout.amount,
      failure: action === "mark_failed" ? { code: "payout_failed", message: input.reason ?? "" } : null,
      holdTtlSeconds: 0,
    });
    const body = payoutObject(done.payout);
    await Promise.all([
      savePayouts(tx, [done.payout]),
      saveEvents(tx, payoutEventOf(done), await ownersOf(tx, [payout.from_account])),
      audit(tx, {
        ...byCaller(ctx),
        action: `payout.${action}`,
        target: { type: "payout", id: payout.id },
        before: { status: payout.status },
        after: {
          status: done.payout.status,
          settle_transaction_id: transactionId,
          ...(action === "mark_failed" ? { reason: input.reason ?? null } : {}),
        },
      }),
    ]);
    return { status: 200, body };
  });
}
