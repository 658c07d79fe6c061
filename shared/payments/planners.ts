import { systemAccountNumber } from "../ledger/index.ts";
import {
  type BatchState,
  type OperationKind,
  type Plan,
  type Planner,
  paymentEvent,
  refundEvent,
} from "./plan.ts";
import type { PaymentRow } from "./types.ts";

/**
 * One planner per operation kind: given the operation and the payment's current (locked) state,
 * which ledger movement to post and how the payment, refund and events change for each outcome.
 * Every planner first checks the state still allows it, so re-running an operation is a no-op.
 */

function holdsAccount(p: PaymentRow): string {
  return systemAccountNumber("holds", p.currency);
}

function touch(state: BatchState, p: PaymentRow, now: Date): void {
  state.dirtyPayments.add(p.id);
  p.updated_at = now;
}

/** A new payment: posted straight to the payee, or (manual capture) authorized into holds. */
const planPayment: Planner = (op, state) => {
  const p = state.payments.get(op.payment_id);
  if (p?.status !== "pending") return null;
  const { metrics, config } = state.services;
  const settled = (now: Date) => {
    touch(state, p, now);
    metrics.postingSeconds.observe((now.getTime() - p.created_at.getTime()) / 1000);
  };
  const onDeclined: Plan["onDeclined"] = ({ code, message, now }) => {
    settled(now);
    Object.assign(p, { status: "failed", failure_code: code, failure_message: message, completed_at: now });
    metrics.paymentDeclines.inc({ code });
    metrics.paymentsCompleted.inc({ status: "failed" });
    return [paymentEvent("payment.failed", p)];
  };
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
      onPosted: ({ transactionId, now }) => {
        settled(now);
        Object.assign(p, {
          status: "requires_capture",
          amount_capturable: p.amount,
          transaction_id: transactionId,
          hold_expires_at: new Date(now.getTime() + config.HOLD_TTL_SECONDS * 1000),
        });
        metrics.paymentsCompleted.inc({ status: "requires_capture" });
        return [paymentEvent("payment.requires_capture", p)];
      },
      onDeclined,
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
        { account: p.to_account, direction: "CREDIT", amount: p.amount },
      ],
    },
    onPosted: ({ transactionId, now }) => {
      settled(now);
      Object.assign(p, {
        status: "succeeded",
        amount_captured: p.amount,
        transaction_id: transactionId,
        completed_at: now,
      });
      metrics.paymentsCompleted.inc({ status: "succeeded" });
      return [paymentEvent("payment.succeeded", p)];
    },
    onDeclined,
  };
};

/**
 * Capture: the held amount leaves the holds account, the captured part to the payee and the rest
 * back to the payer, in one ledger transaction.
 */
const planCapture: Planner = (op, state) => {
  const p = state.payments.get(op.payment_id);
  if (p?.status !== "requires_capture" || p.pending_action !== "capture" || !op.amount) return null;
  const held = p.amount_capturable;
  const captured = op.amount;
  const rest = held - captured;
  return {
    posting: {
      kind: "capture",
      reference: `capture:${p.id}`,
      paymentId: p.id,
      description: p.description,
      legs: [
        { account: holdsAccount(p), direction: "DEBIT", amount: held },
        { account: p.to_account, direction: "CREDIT", amount: captured },
        ...(rest > 0n ? [{ account: p.from_account, direction: "CREDIT" as const, amount: rest }] : []),
      ],
      holdChanges: [{ account: p.from_account, delta: -held }],
    },
    onPosted: ({ transactionId, now }) => {
      touch(state, p, now);
      Object.assign(p, {
        status: "succeeded",
        amount_captured: captured,
        amount_capturable: 0n,
        transaction_id: transactionId,
        pending_action: null,
        pending_action_amount: null,
        completed_at: now,
      });
      state.services.metrics.paymentsCompleted.inc({ status: "succeeded" });
      return [paymentEvent("payment.succeeded", p)];
    },
    // The payee's account was closed meanwhile: the hold stays, capturable again or cancelable.
    onDeclined: ({ code, message, now }) => {
      touch(state, p, now);
      Object.assign(p, {
        pending_action: null,
        pending_action_amount: null,
        failure_code: code,
        failure_message: message,
      });
      return [];
    },
  };
};

/** Cancel or expiry: everything held goes back to the payer. */
function planRelease(kind: "cancel" | "expire"): Planner {
  return (op, state) => {
    const p = state.payments.get(op.payment_id);
    if (p?.status !== "requires_capture" || p.pending_action !== kind) return null;
    const held = p.amount_capturable;
    return {
      posting: {
        kind: "release",
        reference: `release:${p.id}`,
        paymentId: p.id,
        description: kind === "expire" ? "authorization expired" : "authorization canceled",
        legs: [
          { account: holdsAccount(p), direction: "DEBIT", amount: held },
          { account: p.from_account, direction: "CREDIT", amount: held },
        ],
        holdChanges: [{ account: p.from_account, delta: -held }],
      },
      onPosted: ({ transactionId, now }) => {
        touch(state, p, now);
        Object.assign(p, {
          status: "canceled",
          amount_capturable: 0n,
          transaction_id: transactionId,
          pending_action: null,
          pending_action_amount: null,
          completed_at: now,
          ...(kind === "expire"
            ? {
                failure_code: "hold_expired",
                failure_message: "The authorization expired before it was captured.",
              }
            : {}),
        });
        state.services.metrics.paymentsCompleted.inc({ status: "canceled" });
        return [paymentEvent("payment.canceled", p)];
      },
      onDeclined: ({ code, message }) => {
        // Only a closed payer account could refuse money coming back: a bug to look at, not an outcome.
        throw new Error(`releasing the hold of ${p.id} was declined: ${code} ${message}`);
      },
    };
  };
}

/**
 * Refund: payee to payer. Re-checked here, under the payment's row lock, against what has really
 * been refunded, so concurrent refunds can never exceed the captured amount.
 */
const planRefund: Planner = (op, state) => {
  const r = op.refund_id ? state.refunds.get(op.refund_id) : undefined;
  const p = state.payments.get(op.payment_id);
  if (!p || r?.status !== "pending") return null;
  const { metrics } = state.services;
  const fail = (now: Date, code: string, message: string) => {
    state.dirtyRefunds.add(r.id);
    Object.assign(r, {
      status: "failed",
      failure_code: code,
      failure_message: message,
      completed_at: now,
      updated_at: now,
    });
    metrics.paymentDeclines.inc({ code });
    return [refundEvent("refund.failed", r, p)];
  };
  if (p.amount_refunded + r.amount > p.amount_captured) {
    return {
      posting: null,
      onPosted: ({ now }) =>
        fail(now, "refund_exceeds_payment", "The refunds would exceed the captured amount."),
      onDeclined: () => [],
    };
  }
  // Reserve it now so a later refund in the same batch sees it.
  p.amount_refunded += r.amount;
  return {
    posting: {
      kind: "refund",
      reference: `refund:${r.id}`,
      paymentId: p.id,
      refundId: r.id,
      description: r.reason ? `refund (${r.reason})` : "refund",
      legs: [
        { account: p.to_account, direction: "DEBIT", amount: r.amount },
        { account: p.from_account, direction: "CREDIT", amount: r.amount },
      ],
    },
    onPosted: ({ transactionId, now }) => {
      touch(state, p, now);
      state.dirtyRefunds.add(r.id);
      Object.assign(r, {
        status: "succeeded",
        transaction_id: transactionId,
        completed_at: now,
        updated_at: now,
      });
      return [refundEvent("refund.succeeded", r, p)];
    },
    onDeclined: ({ code, message, now }) => {
      p.amount_refunded -= r.amount;
      return fail(now, code, message);
    },
  };
};

export const planners: Record<OperationKind, Planner> = {
  payment: planPayment,
  capture: planCapture,
  cancel: planRelease("cancel"),
  expire: planRelease("expire"),
  refund: planRefund,
};
