import { formatAmount } from "../money.ts";
import type { PaymentRow } from "./types.ts";

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** The public payment object, as the API returns it and as events carry it. */
export function paymentObject(p: PaymentRow) {
  return {
    id: p.id,
    object: "payment" as const,
    type: p.type,
    status: p.status,
    from_account: p.from_account,
    to_account: p.to_account,
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
