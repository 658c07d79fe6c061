import type { Ctx, Services } from "../context.ts";
import type { Tx } from "../db/index.ts";
import { ForbiddenError, NotFoundError, ValidationError } from "../errors.ts";
import { type IdempotentRequest, type IdempotentResult, idempotent } from "../idempotency.ts";
import { newId } from "../ids.ts";
import { accountOrderKey, partitionOf } from "../jobs.ts";
import { formatAmount, parseAmount } from "../money.ts";
import { type Parties, visibleParties } from "./parties.ts";
import { paymentObject } from "./serialize.ts";
import type { PaymentRow, PendingAction } from "./types.ts";

/**
 * Holds: capture and cancel are accepted here (under the payment's row lock, so of many concurrent
 * requests exactly one is accepted) and posted by the workers through the payer's partition, in
 * order with the payer's other postings. Expiry is found by the workers and goes the same way.
 */

/** Locks the payment and tells how the caller relates to it; invisible payments are 404. */
async function lockForAction(
  ctx: Ctx,
  tx: Tx,
  id: string,
): Promise<{ payment: PaymentRow & { expired: boolean }; party: Parties }> {
  // Expiry judged by the database's clock, the one the expiry duty uses too.
  const [payment] = await tx<(PaymentRow & { expired: boolean })[]>`
    select *, coalesce(hold_expires_at <= clock_timestamp(), false) as expired
      from payments where id = ${id} for no key update`;
  if (!payment) throw new NotFoundError("payment", "payment_not_found");
  return { payment, party: await visibleParties(tx, ctx.principal, payment) };
}

async function queueAction(
  ctx: Ctx,
  tx: Tx,
  afterCommit: (fn: () => Promise<void>) => void,
  payment: PaymentRow,
  action: PendingAction,
  amount: bigint | null,
): Promise<PaymentRow> {
  const [updated] = await tx<PaymentRow[]>`
    update payments set pending_action = ${action}, pending_action_amount = ${amount === null ? null : String(amount)}::bigint,
                        updated_at = clock_timestamp()
     where id = ${payment.id} returning *`;
  const opId = newId("op");
  await tx`
    insert into operations (id, order_key, kind, payment_id, amount)
    values (${opId}, ${accountOrderKey(payment.from_account)}, ${action}, ${payment.id},
            ${amount === null ? null : String(amount)}::bigint)`;
  afterCommit(() =>
    ctx.queues.nudgePosting(partitionOf(payment.from_account, ctx.config.POSTING_PARTITIONS)),
  );
  return updated!;
}

function heldAndOpen(p: PaymentRow): boolean {
  return p.status === "requires_capture" && p.pending_action === null;
}

/** POST /payments/{id}/capture: payee or admin; `amount` defaults to everything capturable. */
export function capturePayment(
  ctx: Ctx,
  id: string,
  input: { amount?: unknown },
  req: IdempotentRequest,
): Promise<IdempotentResult> {
  return idempotent(ctx, req, async (tx, afterCommit) => {
    const { payment, party } = await lockForAction(ctx, tx, id);
    if (!party.payee && ctx.principal.role !== "admin") {
      throw new ForbiddenError("forbidden", "Only the payee (or an admin) may capture a payment.");
    }
    if (!heldAndOpen(payment) || payment.expired) {
      throw new ValidationError(
        "payment_not_capturable",
        payment.status === "requires_capture" && payment.pending_action === null
          ? "The authorization has expired."
          : `This payment cannot be captured (status ${payment.status}${payment.pending_action ? `, ${payment.pending_action} in progress` : ""}).`,
      );
    }
    const amount =
      input.amount === undefined || input.amount === null
        ? payment.amount_capturable
        : parseAmount(input.amount, payment.currency);
    if (amount > payment.amount_capturable) {
      throw ValidationError.field(
        "/amount",
        `At most ${formatAmount(payment.amount_capturable, payment.currency)} ${payment.currency} can be captured.`,
        "amount_exceeds_capturable",
      );
    }
    const updated = await queueAction(ctx, tx, afterCommit, payment, "capture", amount);
    return { status: 202, body: paymentObject(updated) };
  });
}

/** POST /payments/{id}/cancel: payer, payee or admin, before capture; releases the hold. */
export function cancelPayment(ctx: Ctx, id: string, req: IdempotentRequest): Promise<IdempotentResult> {
  return idempotent(ctx, req, async (tx, afterCommit) => {
    const { payment, party } = await lockForAction(ctx, tx, id);
    if (!party.payer && !party.payee && ctx.principal.role !== "admin") {
      throw new ForbiddenError("forbidden", "Only the payer, the payee or an admin may cancel a payment.");
    }
    if (!heldAndOpen(payment)) {
      throw new ValidationError(
        "payment_not_cancelable",
        `This payment cannot be canceled (status ${payment.status}${payment.pending_action ? `, ${payment.pending_action} in progress` : ""}).`,
      );
    }
    const updated = await queueAction(ctx, tx, afterCommit, payment, "cancel", null);
    return { status: 202, body: paymentObject(updated) };
  });
}

/**
 * Finds holds past their expiry with nothing else in progress and queues their release. Runs in
 * every worker process on a timer; Postgres decides, so it survives restarts and a wiped Redis.
 */
export async function expireDueHolds(services: Services, limit = 500): Promise<number> {
  const ops = await services.sql.begin(async (tx) => {
    const due = await tx<PaymentRow[]>`
      select * from payments
       where status = 'requires_capture' and pending_action is null and hold_expires_at <= clock_timestamp()
       order by hold_expires_at
       limit ${limit}
         for no key update skip locked`;
    const queued = due.map((p) => ({
      id: newId("op"),
      orderKey: accountOrderKey(p.from_account),
      partition: partitionOf(p.from_account, services.config.POSTING_PARTITIONS),
      paymentId: p.id,
    }));
    if (queued.length === 0) return queued;
    // Set-based: two statements however many holds expire at once.
    await tx`update payments set pending_action = 'expire', updated_at = clock_timestamp()
              where id = any(${queued.map((q) => q.paymentId)}::text[])`;
    await tx`
      insert into operations (id, order_key, kind, payment_id)
      select id, order_key, 'expire', payment_id
        from unnest(${queued.map((q) => q.id)}::text[], ${queued.map((q) => q.orderKey)}::bigint[],
                    ${queued.map((q) => q.paymentId)}::text[]) as x(id, order_key, payment_id)`;
    return queued;
  });
  const partitions = new Set(ops.map((op) => op.partition));
  await Promise.all(
    [...partitions].map((p) =>
      services.queues.nudgePosting(p).catch(() => {
        // The reconciler posts it from Postgres.
      }),
    ),
  );
  return ops.length;
}
