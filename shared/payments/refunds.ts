import type { Ctx } from "../context.ts";
import type { Tx } from "../db/index.ts";
import { ForbiddenError, NotFoundError, ValidationError } from "../errors.ts";
import { type IdempotentRequest, type IdempotentResult, idempotent } from "../idempotency.ts";
import { newId } from "../ids.ts";
import { accountOrderKey, partitionOf } from "../jobs.ts";
import type { AccountStatus } from "../ledger/index.ts";
import { formatAmount, parseAmount } from "../money.ts";
import { decodeCursor, type Page, pageOf } from "../pagination.ts";
import { visibleParties, visiblePaymentIds } from "./parties.ts";
import { findVisiblePayment } from "./read.ts";
import { type RefundObject, refundObject } from "./serialize.ts";
import type { PaymentRow, RefundReason, RefundRow } from "./types.ts";

export interface RefundInput {
  payment_id: string;
  amount?: unknown;
  reason?: RefundReason | null;
}

/**
 * A refund pays from the payee back to the payer: refused when the payee may not pay (frozen:
 * `account_frozen`; closed: `account_closed`) or the payer may not receive (closed). The ledger
 * declines the same at posting, for a refund accepted before a freeze or close.
 */
async function refundableBetween(tx: Tx, payment: PaymentRow): Promise<void> {
  const rows = await tx<{ account_number: string; status: AccountStatus }[]>`
    select account_number, status from accounts
     where account_number in (${payment.to_account}, ${payment.from_account})`;
  const statusOf = (n: string) => rows.find((r) => r.account_number === n)?.status;
  const payee = statusOf(payment.to_account);
  if (payee === "closed" || statusOf(payment.from_account) === "closed") {
    throw ValidationError.field("/payment_id", "An account of this payment is closed.", "account_closed");
  }
  if (payee === "frozen") {
    throw ValidationError.field(
      "/payment_id",
      "The payee's account is frozen: it cannot pay.",
      "account_frozen",
    );
  }
}

/**
 * POST /refunds: payee or admin. Accepted only while the captured amount not yet refunded (nor
 * claimed by pending refunds) covers it: checked under the payment's row lock, and again by the
 * workers when posting, so concurrent refunds can never exceed the payment.
 */
export function createRefund(
  ctx: Ctx,
  input: RefundInput,
  req: IdempotentRequest,
): Promise<IdempotentResult> {
  return idempotent(ctx, req, async (tx, afterCommit) => {
    const [payment] = await tx<
      PaymentRow[]
    >`select * from payments where id = ${input.payment_id} for no key update`;
    const notFound = () => new NotFoundError("payment", "payment_not_found", "/payment_id");
    if (!payment) throw notFound();
    const party = await visibleParties(tx, ctx.principal, payment, notFound);
    if (!party.payee && ctx.principal.role !== "admin")
      throw new ForbiddenError("forbidden", "Only the payee (or an admin) may refund a payment.");
    if (payment.status !== "succeeded") {
      throw ValidationError.field(
        "/payment_id",
        `Only succeeded payments can be refunded (this one is ${payment.status}).`,
        "payment_not_refundable",
      );
    }
    await refundableBetween(tx, payment);
    const [claimed] = await tx<{ total: bigint }[]>`
      select coalesce(sum(amount), 0)::bigint as total from refunds
       where payment_id = ${payment.id} and status in ('pending', 'succeeded')`;
    const left = payment.amount_captured - claimed!.total;
    const amount =
      input.amount === undefined || input.amount === null
        ? left
        : parseAmount(input.amount, payment.currency);
    if (amount <= 0n || amount > left) {
      throw ValidationError.field(
        "/amount",
        `At most ${formatAmount(left > 0n ? left : 0n, payment.currency)} ${payment.currency} of this payment can still be refunded.`,
        "refund_exceeds_payment",
      );
    }
    const [refund] = await tx<RefundRow[]>`
      insert into refunds (id, payment_id, amount, currency, reason, created_by)
      values (${newId("re")}, ${payment.id}, ${String(amount)}::bigint, ${payment.currency}, ${input.reason ?? null},
              ${ctx.principal.userId})
      returning *`;
    await tx`
      insert into operations (id, order_key, kind, payment_id, refund_id, amount)
      values (${newId("op")}, ${accountOrderKey(payment.to_account)}, 'refund', ${payment.id}, ${refund!.id},
              ${String(amount)}::bigint)`;
    afterCommit(() =>
      ctx.queues.nudgePosting(partitionOf(payment.to_account, ctx.config.POSTING_PARTITIONS)),
    );
    return { status: 202, body: refundObject(refund!) };
  });
}

/** A refund is visible to whoever may see its payment. */
export async function getRefund(ctx: Ctx, id: string): Promise<RefundObject> {
  const [refund] = await ctx.sql<RefundRow[]>`select * from refunds where id = ${id}`;
  if (!refund) throw new NotFoundError("refund", "refund_not_found");
  await findVisiblePayment(ctx, refund.payment_id).catch(() => {
    throw new NotFoundError("refund", "refund_not_found");
  });
  return refundObject(refund);
}

/** GET /refunds: refunds of one payment the caller may see (`payment_id`), else all of the caller's (ops/admin: all). */
export async function listRefunds(
  ctx: Ctx,
  input: { payment_id?: string; limit: number; cursor?: string },
): Promise<Page<RefundObject>> {
  const before = decodeCursor(input.cursor, /^re_[0-9A-Z]{26}$/);
  const { sql } = ctx;
  if (input.payment_id) await findVisiblePayment(ctx, input.payment_id);
  const visible = input.payment_id ? null : visiblePaymentIds(sql, ctx.principal);
  const rows = await sql<RefundRow[]>`
    select r.* from refunds r
     where true
       ${input.payment_id ? sql`and r.payment_id = ${input.payment_id}` : sql``}
       ${visible ? sql`and r.payment_id in (${visible})` : sql``}
       ${before ? sql`and r.id < ${before}` : sql``}
     order by r.id desc
     limit ${input.limit + 1}`;
  return pageOf(rows, input.limit, (r) => r.id, refundObject);
}
