import { formatAmount } from "../money.ts";
import type { EventDraft } from "../payments/plan.ts";
import type { EventType } from "../webhooks/events.ts";
import { maskedDestination } from "./destination.ts";
import type { PayoutRow } from "./types.ts";

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** The public payout object, as the API returns it and as events carry it (destination masked). */
export function payoutObject(p: PayoutRow) {
  return {
    id: p.id,
    object: "payout" as const,
    status: p.status,
    from_account: p.from_account,
    amount: formatAmount(p.amount, p.currency),
    currency: p.currency,
    destination: maskedDestination(p.destination),
    description: p.description,
    failure_code: p.failure_code,
    failure_message: p.failure_message,
    transaction_id: p.transaction_id,
    settle_transaction_id: p.settle_transaction_id,
    created_at: p.created_at.toISOString(),
    updated_at: p.updated_at.toISOString(),
    completed_at: iso(p.completed_at),
  };
}

export type PayoutObject = ReturnType<typeof payoutObject>;

/** A payout's event: visible to the owner of the account it is paid from. */
export function payoutEvent(type: EventType, p: PayoutRow): EventDraft {
  return {
    type,
    paymentId: null,
    refundId: null,
    payoutId: p.id,
    accounts: [p.from_account],
    object: payoutObject(p),
  };
}
