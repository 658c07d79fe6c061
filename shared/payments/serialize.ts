import { formatAmount } from "../money.ts";
import type { PaymentRow, RefundRow } from "./types.ts";

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** The public payment object, as the API returns it and as events carry it. */
export function paymentObject(p: PaymentRow) {
  return {
    id: p.id,
    object: "payment" as const,
    type: p.type,
    status: p.status,
    from_account: p.from_account,
    // A split payment names its payees in `splits` only (its row's to_account is the first of them).
    to_account: p.splits ? null : p.to_account,
    splits: p.splits
      ? p.splits.map((s) => ({
          to_account: s.to_account,
          amount: formatAmount(BigInt(s.amount), p.currency),
        }))
      : null,
    amount: formatAmount(p.amount, p.currency),
    currency: p.currency,
    capture_method: p.capture_method,
    amount_capturable: formatAmount(p.amount_capturable, p.currency),
    amount_captured: formatAmount(p.amount_captured, p.currency),
    amount_refunded: formatAmount(p.amount_refunded, p.currency),
    description: p.description,
    metadata: p.metadata,
    failure_code: p.failure_code,
    failure_message: p.failure_message,
    transaction_id: p.transaction_id,
    hold_expires_at: iso(p.hold_expires_at),
    created_at: p.created_at.toISOString(),
    updated_at: p.updated_at.toISOString(),
    completed_at: iso(p.completed_at),
  };
}

export type PaymentObject = ReturnType<typeof paymentObject>;

/** The public refund object. */
export function refundObject(r: RefundRow) {
  return {
    id: r.id,
    object: "refund" as const,
    payment_id: r.payment_id,
    amount: formatAmount(r.amount, r.currency),
    currency: r.currency,
    status: r.status,
    reason: r.reason,
    failure_code: r.failure_code,
    failure_message: r.failure_message,
    transaction_id: r.transaction_id,
    created_at: r.created_at.toISOString(),
    updated_at: r.updated_at.toISOString(),
    completed_at: iso(r.completed_at),
  };
}

export type RefundObject = ReturnType<typeof refundObject>;
