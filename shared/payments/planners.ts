import { type Leg, systemAccountNumber } from "../ledger/index.ts";
import type { PayoutRow } from "../payouts/types.ts";
import type { Plan, Planner } from "./plan.ts";
import { proRata, splitsOf } from "./splits.ts";
import { canAct, type PaymentOperationKind, payoutTransitionFor } from "./state.ts";
import type { PaymentRow } from "./types.ts";

/**
 * One planner per operation kind: given the operation and a snapshot of its payment (and refund),
 * which ledger movement to post and which outcome of the state table (shared/payments/state.ts)
 * applies if it goes through or is declined. Pure: they read the snapshot and return data; the
 * engine (posting.ts) applies the outcomes, writes the rows and events, and counts the metrics.
 * An operation the payment's state no longer allows (already done) plans nothing.
 */

function holdsAccount(p: PaymentRow): string {
  return systemAccountNumber("holds", p.currency);
}

/**
 * `total` divided over the payment's payees by the pro-rata rule (shared/payments/splits.ts) of
 * `weights` (by default the split amounts), one leg each in `direction`; a zero share has no leg.
 * An ordinary payment has one payee, who gets it all.
 */
function payeeLegs(p: PaymentRow, total: bigint, direction: Leg["direction"], weights?: bigint[]): Leg[] {
  const payees = splitsOf(p);
  const shares = proRata(total, weights ?? payees.map((s) => s.amount));
  return payees.flatMap((s, i) => {
    const amount = shares[i]!;
    return amount > 0n ? [{ account: s.account, direction, amount }] : [];
  });
}

/** What each payee was paid: the split amounts' pro-rata shares of the captured amount. */
function capturedShares(p: PaymentRow): bigint[] {
  return proRata(
    p.amount_captured,
    splitsOf(p).map((s) => s.amount),
  );
}

/** A new payment: posted straight to the payee, or (manual capture) authorized into holds. */
const planPayment: Planner = (_, { payment: p }) => {
  if (p.capture_method === "manual") {
    return {
      posting: {
        kind: "authorization",
        reference: `authorization:${p.id}`,
        paymentId: p.id,
        description: p.description,
        legs: [
          { account: p.from_account, direction: "DEBIT", amount: p.amount },
          { account: holdsAccount(p), direction: "CREDIT", amount: p.amount },
        ],
        holdChanges: [{ account: p.from_account, delta: p.amount }],
      },
      ifPosted: { outcome: "authorized" },
      ifDeclined: { outcome: "declined" },
    };
  }
  return {
    posting: {
      kind: p.type,
      reference: `payment:${p.id}`,
      paymentId: p.id,
      description: p.description,
      legs: [
        { account: p.from_account, direction: "DEBIT", amount: p.amount },
        ...payeeLegs(p, p.amount, "CREDIT"),
      ],
    },
    ifPosted: { outcome: "posted" },
    ifDeclined: { outcome: "declined" },
  };
};

/**
 * Capture: the held amount leaves the holds account, the captured part to the payee (a split
 * payment's: divided over its splits pro rata) and the rest back to the payer, in one ledger
 * transaction.
 */
const planCapture: Planner = (op, { payment: p }) => {
  if (!op.amount) return null;
  const held = p.amount_capturable;
  const rest = held - op.amount;
  return {
    posting: {
      kind: "capture",
      reference: `capture:${p.id}`,
      paymentId: p.id,
      description: p.description,
      legs: [
        { account: holdsAccount(p), direction: "DEBIT", amount: held },
        ...payeeLegs(p, op.amount, "CREDIT"),
        ...(rest > 0n ? [{ account: p.from_account, direction: "CREDIT" as const, amount: rest }] : []),
      ],
      holdChanges: [{ account: p.from_account, delta: -held }],
    },
    ifPosted: { outcome: "posted" },
    ifDeclined: { outcome: "declined" },
  };
};

/** Cancel or expiry: everything held goes back to the payer. Money coming back cannot be declined. */
const planRelease: Planner = (op, { payment: p }) => ({
  posting: {
    kind: "release",
    reference: `release:${p.id}`,
    paymentId: p.id,
    description: op.kind === "expire" ? "authorization expired" : "authorization canceled",
    legs: [
      { account: holdsAccount(p), direction: "DEBIT", amount: p.amount_capturable },
      { account: p.from_account, direction: "CREDIT", amount: p.amount_capturable },
    ],
    holdChanges: [{ account: p.from_account, delta: -p.amount_capturable }],
  },
  ifPosted: { outcome: "posted" },
  ifDeclined: null,
});

/**
 * Refund: payee to payer. Checked here, under the payment's row lock, against what has really been
 * refunded plus the refunds planned before it in the batch, so refunds never exceed the capture.
 * A split payment's refund is taken from every payee pro rata to what each was paid (the same
 * rule), in one ledger transaction: one payee short of funds declines it as a whole.
 */
const planRefund: Planner = (_, { payment: p, refund: r, refundsInFlight }) => {
  if (!r) return null;
  if (p.amount_refunded + refundsInFlight + r.amount > p.amount_captured) {
    return {
      posting: null,
      ifPosted: {
        outcome: "declined",
        failure: { code: "refund_exceeds_payment", message: "The refunds would exceed the captured amount." },
      },
      ifDeclined: null,
    };
  }
  return {
    posting: {
      kind: "refund",
      reference: `refund:${r.id}`,
      paymentId: p.id,
      refundId: r.id,
      description: r.reason ? `refund (${r.reason})` : "refund",
      legs: [
        ...payeeLegs(p, r.amount, "DEBIT", capturedShares(p)),
        { account: p.from_account, direction: "CREDIT", amount: r.amount },
      ],
    },
    ifPosted: { outcome: "posted" },
    ifDeclined: { outcome: "declined" },
  };
};

const planners: Record<PaymentOperationKind, Planner> = {
  payment: planPayment,
  capture: planCapture,
  cancel: planRelease,
  expire: planRelease,
  refund: planRefund,
};

/** The plan of one operation, or null when the payment's state leaves it nothing to do. */
export const planOperation: Planner = (op, snapshot) =>
  op.kind !== "payout" && canAct(op.kind, snapshot.payment, snapshot.refund)
    ? planners[op.kind](op, snapshot)
    : null;

/**
 * A payout: from the user's account into the currency's in-transit account, where it waits for ops
 * to settle it. Null when the payout's state leaves nothing to post (already posted or failed).
 */
export function planPayout(p: PayoutRow): Plan | null {
  if (!payoutTransitionFor(p, "posted")) return null;
  return {
    posting: {
      kind: "payout",
      reference: `payout:${p.id}`,
      description: p.description ?? "payout",
      legs: [
        { account: p.from_account, direction: "DEBIT", amount: p.amount },
        {
          account: systemAccountNumber("payouts_in_transit", p.currency),
          direction: "CREDIT",
          amount: p.amount,
        },
      ],
    },
    ifPosted: { outcome: "posted" },
    ifDeclined: { outcome: "declined" },
  };
}
