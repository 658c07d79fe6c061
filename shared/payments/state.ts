import type { PayoutRow } from "../payouts/types.ts";
import type { EventType } from "../webhooks/events.ts";
import type { PaymentRow, RefundRow } from "./types.ts";

/**
 * The payment state machine, in one table. Every change the posting engine makes to a payment (and
 * to a refund) is a row of TRANSITIONS: from a status and pending action, an operation of a kind
 * with an outcome leads to a new status, sets or clears some fields, and emits at most one event.
 * Anything not in the table is illegal and refused. The API's enums, the SQL CHECK constraints and
 * the OpenAPI document come from (or are tested against) the lists below, so adding a state is one
 * edit here plus a migration.
 */

export const PAYMENT_STATUSES = ["pending", "requires_capture", "succeeded", "failed", "canceled"] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

export const REFUND_STATUSES = ["pending", "succeeded", "failed"] as const;
export type RefundStatus = (typeof REFUND_STATUSES)[number];

/** A capture, cancel or expiry accepted and not yet posted: no second one may be accepted. */
export const PENDING_ACTIONS = ["capture", "cancel", "expire"] as const;
export type PendingAction = (typeof PENDING_ACTIONS)[number];

/** What an operation in the outbox asks the posting engine to do. */
export const OPERATION_KINDS = ["payment", ...PENDING_ACTIONS, "refund", "payout"] as const;
export type OperationKind = (typeof OPERATION_KINDS)[number];

/**
 * How an operation ended: its posting went through (`posted`; `authorized` for a manual-capture
 * payment, whose money moves into holds), the ledger or a business rule declined it (`declined`),
 * it was set aside because processing it fails for good (`set_aside`: nothing posted, nothing
 * changed, the payment waits for ops), or ops closed a set-aside operation without posting it
 * (`resolved`: the payment or refund fails, a hold goes back to being capturable or cancelable).
 * A set-aside operation that ops retry goes back to pending and ends in one of the others.
 */
export const OUTCOMES = ["posted", "authorized", "declined", "set_aside", "resolved"] as const;
export type Outcome = (typeof OUTCOMES)[number];

export interface Failure {
  code: string;
  message: string;
}

/** What a transition may use besides the rows: the operation's outcome details. */
export interface TransitionInput {
  now: Date;
  /** The ledger transaction of a posted outcome. */
  transactionId: string | null;
  /** The operation's amount (a capture's or a refund's). */
  amount: bigint | null;
  /** Why, for `declined` and `set_aside`. */
  failure: Failure | null;
  holdTtlSeconds: number;
}

/** The operations of a payment (or of its refunds): the kinds TRANSITIONS is about. */
export type PaymentOperationKind = Exclude<OperationKind, "payout">;

export interface Transition {
  kind: PaymentOperationKind;
  from: PaymentStatus;
  pendingAction: PendingAction | null;
  outcome: Outcome;
  to: PaymentStatus;
  /** The payment's fields this transition sets or clears, besides status and updated_at. */
  payment: (p: PaymentRow, t: TransitionInput) => Partial<PaymentRow>;
  /** For refunds: the refund's new status and fields (it leaves `pending` exactly once). */
  refund?: { to: RefundStatus; fields: (r: RefundRow, t: TransitionInput) => Partial<RefundRow> };
  event: EventType | null;
}

export const PROCESSING_ERROR: Failure = {
  code: "processing_error",
  message: "The payment could not be processed; nothing was moved.",
};

const HOLD_EXPIRED: Failure = {
  code: "hold_expired",
  message: "The authorization expired before it was captured.",
};

const nothing = () => ({});
const clearPending = { pending_action: null, pending_action_amount: null } as const;
const failureOf = (t: TransitionInput) => t.failure ?? PROCESSING_ERROR;
const failed = (_: PaymentRow, t: TransitionInput) => ({
  failure_code: failureOf(t).code,
  failure_message: failureOf(t).message,
  completed_at: t.now,
});
const released = (t: TransitionInput) => ({
  amount_capturable: 0n,
  transaction_id: t.transactionId,
  completed_at: t.now,
  ...clearPending,
});
const refundFailed = {
  to: "failed" as const,
  fields: (_: RefundRow, t: TransitionInput) => ({
    failure_code: failureOf(t).code,
    failure_message: failureOf(t).message,
    completed_at: t.now,
  }),
};

export const TRANSITIONS: readonly Transition[] = [
  // A new payment (or transfer, or deposit).
  {
    kind: "payment",
    from: "pending",
    pendingAction: null,
    outcome: "posted",
    to: "succeeded",
    payment: (p, t) => ({ amount_captured: p.amount, transaction_id: t.transactionId, completed_at: t.now }),
    event: "payment.succeeded",
  },
  {
    kind: "payment",
    from: "pending",
    pendingAction: null,
    outcome: "authorized",
    to: "requires_capture",
    payment: (p, t) => ({
      amount_capturable: p.amount,
      transaction_id: t.transactionId,
      hold_expires_at: new Date(t.now.getTime() + t.holdTtlSeconds * 1000),
    }),
    event: "payment.requires_capture",
  },
  {
    kind: "payment",
    from: "pending",
    pendingAction: null,
    outcome: "declined",
    to: "failed",
    payment: failed,
    event: "payment.failed",
  },
  // Set aside: the payment stays pending, waiting for ops to retry or resolve its operation.
  {
    kind: "payment",
    from: "pending",
    pendingAction: null,
    outcome: "set_aside",
    to: "pending",
    payment: nothing,
    event: null,
  },
  {
    kind: "payment",
    from: "pending",
    pendingAction: null,
    outcome: "resolved",
    to: "failed",
    payment: failed,
    event: "payment.failed",
  },

  // Capture of a hold: the captured part to the payee, the rest back to the payer.
  {
    kind: "capture",
    from: "requires_capture",
    pendingAction: "capture",
    outcome: "posted",
    to: "succeeded",
    payment: (_, t) => ({ amount_captured: t.amount ?? 0n, ...released(t) }),
    event: "payment.succeeded",
  },
  // The payee's account was closed meanwhile: the hold stays, capturable again or cancelable.
  {
    kind: "capture",
    from: "requires_capture",
    pendingAction: "capture",
    outcome: "declined",
    to: "requires_capture",
    payment: (_, t) => ({
      failure_code: failureOf(t).code,
      failure_message: failureOf(t).message,
      ...clearPending,
    }),
    event: null,
  },
  // Set aside: the capture stays pending (no other action on the hold) until ops retry or resolve it.
  {
    kind: "capture",
    from: "requires_capture",
    pendingAction: "capture",
    outcome: "set_aside",
    to: "requires_capture",
    payment: nothing,
    event: null,
  },
  // Resolved: nothing moved, the hold stays as it was and may be acted on again.
  {
    kind: "capture",
    from: "requires_capture",
    pendingAction: "capture",
    outcome: "resolved",
    to: "requires_capture",
    payment: () => clearPending,
    event: null,
  },

  // Cancel or expiry of a hold: everything held goes back to the payer. It cannot be declined.
  {
    kind: "cancel",
    from: "requires_capture",
    pendingAction: "cancel",
    outcome: "posted",
    to: "canceled",
    payment: (_, t) => released(t),
    event: "payment.canceled",
  },
  {
    kind: "cancel",
    from: "requires_capture",
    pendingAction: "cancel",
    outcome: "set_aside",
    to: "requires_capture",
    payment: nothing,
    event: null,
  },
  {
    kind: "cancel",
    from: "requires_capture",
    pendingAction: "cancel",
    outcome: "resolved",
    to: "requires_capture",
    payment: () => clearPending,
    event: null,
  },
  {
    kind: "expire",
    from: "requires_capture",
    pendingAction: "expire",
    outcome: "posted",
    to: "canceled",
    payment: (_, t) => ({
      ...released(t),
      failure_code: HOLD_EXPIRED.code,
      failure_message: HOLD_EXPIRED.message,
    }),
    event: "payment.canceled",
  },
  {
    kind: "expire",
    from: "requires_capture",
    pendingAction: "expire",
    outcome: "set_aside",
    to: "requires_capture",
    payment: nothing,
    event: null,
  },
  {
    kind: "expire",
    from: "requires_capture",
    pendingAction: "expire",
    outcome: "resolved",
    to: "requires_capture",
    payment: () => clearPending,
    event: null,
  },

  // Refund of a succeeded payment: payee to payer. The payment keeps its status.
  {
    kind: "refund",
    from: "succeeded",
    pendingAction: null,
    outcome: "posted",
    to: "succeeded",
    payment: (p, t) => ({ amount_refunded: p.amount_refunded + (t.amount ?? 0n) }),
    refund: {
      to: "succeeded",
      fields: (_, t) => ({ transaction_id: t.transactionId, completed_at: t.now }),
    },
    event: "refund.succeeded",
  },
  {
    kind: "refund",
    from: "succeeded",
    pendingAction: null,
    outcome: "declined",
    to: "succeeded",
    payment: nothing,
    refund: refundFailed,
    event: "refund.failed",
  },
  // Set aside: the refund stays pending (its amount stays reserved) until ops retry or resolve it.
  {
    kind: "refund",
    from: "succeeded",
    pendingAction: null,
    outcome: "set_aside",
    to: "succeeded",
    payment: nothing,
    event: null,
  },
  {
    kind: "refund",
    from: "succeeded",
    pendingAction: null,
    outcome: "resolved",
    to: "succeeded",
    payment: nothing,
    refund: refundFailed,
    event: "refund.failed",
  },
];

const key = (
  kind: OperationKind,
  from: PaymentStatus,
  pendingAction: PendingAction | null,
  outcome: Outcome,
) => `${kind}|${from}|${pendingAction ?? "-"}|${outcome}`;

const BY_KEY = new Map(TRANSITIONS.map((t) => [key(t.kind, t.from, t.pendingAction, t.outcome), t]));
if (BY_KEY.size !== TRANSITIONS.length) throw new Error("TRANSITIONS has two rows for one state and outcome");

/** An operation applied to a payment in a state the table has no row for. */
export class IllegalTransitionError extends Error {
  constructor(
    kind: OperationKind | PayoutSettlement,
    p: Pick<PaymentRow, "id"> & { status: string; pending_action?: PendingAction | null },
    outcome: Outcome | PayoutSettlement,
    why = "no such transition",
  ) {
    super(
      `illegal transition: ${kind} ${outcome} on ${kind === "payout" || kind.startsWith("mark_") ? "payout" : "payment"} ${p.id} (${p.status}${p.pending_action ? `, ${p.pending_action} pending` : ""}): ${why}`,
    );
    this.name = "IllegalTransitionError";
  }
}

/** The row for an operation of `kind` ending with `outcome` on a payment in its current state. */
export function transitionFor(kind: OperationKind, p: PaymentRow, outcome: Outcome): Transition | undefined {
  return BY_KEY.get(key(kind, p.status, p.pending_action, outcome));
}

/** True when an operation of `kind` has anything to do on the payment as it is now. */
export function canAct(kind: OperationKind, p: PaymentRow, refund: RefundRow | null): boolean {
  if (kind === "refund" && refund?.status !== "pending") return false;
  return OUTCOMES.some((o) => transitionFor(kind, p, o) !== undefined);
}

export interface Applied {
  transition: Transition;
  payment: PaymentRow;
  refund: RefundRow | null;
  /** The payment as it was before, for metrics and logs. */
  before: PaymentRow;
}

/**
 * Applies one transition: the new payment (and refund) rows, built from the old ones, never
 * mutated. Throws IllegalTransitionError when the table has no row for it.
 */
export function applyTransition(
  kind: OperationKind,
  payment: PaymentRow,
  refund: RefundRow | null,
  outcome: Outcome,
  input: TransitionInput,
): Applied {
  const transition = transitionFor(kind, payment, outcome);
  if (!transition) throw new IllegalTransitionError(kind, payment, outcome);
  if ((transition.refund !== undefined) !== (refund !== null) || (refund && refund.status !== "pending")) {
    throw new IllegalTransitionError(
      kind,
      payment,
      outcome,
      `refund ${refund?.id ?? "missing"} is not pending`,
    );
  }
  const next: PaymentRow = {
    ...payment,
    ...transition.payment(payment, input),
    status: transition.to,
    updated_at: input.now,
  };
  const nextRefund =
    refund && transition.refund
      ? {
          ...refund,
          ...transition.refund.fields(refund, input),
          status: transition.refund.to,
          updated_at: input.now,
        }
      : null;
  return { transition, payment: next, refund: nextRefund, before: payment };
}

/**
 * The payout state machine, the same way: a payout is posted by its `payout` operation (its
 * outcome: user account -> in transit) and then settled by ops, synchronously (mark_paid: in
 * transit -> external; mark_failed: in transit -> back to the user). Terminal: paid, failed.
 */
export const PAYOUT_STATUSES = ["pending", "in_transit", "paid", "failed"] as const;
export type PayoutStatus = (typeof PAYOUT_STATUSES)[number];

export const PAYOUT_SETTLEMENTS = ["mark_paid", "mark_failed"] as const;
export type PayoutSettlement = (typeof PAYOUT_SETTLEMENTS)[number];

/** What moves a payout: its operation's outcome (never `authorized`), or ops settling it. */
export type PayoutTrigger = Exclude<Outcome, "authorized"> | PayoutSettlement;

export interface PayoutTransition {
  from: PayoutStatus;
  on: PayoutTrigger;
  to: PayoutStatus;
  /** The payout's fields this transition sets, besides status and updated_at. */
  payout: (p: PayoutRow, t: TransitionInput) => Partial<PayoutRow>;
  event: EventType | null;
}

const payoutFailed = (_: PayoutRow, t: TransitionInput) => ({
  failure_code: failureOf(t).code,
  failure_message: failureOf(t).message,
  completed_at: t.now,
});

export const PAYOUT_TRANSITIONS: readonly PayoutTransition[] = [
  // Posted by the workers: the money leaves the user's account for the in-transit account.
  {
    from: "pending",
    on: "posted",
    to: "in_transit",
    payout: (_, t) => ({ transaction_id: t.transactionId }),
    event: "payout.in_transit",
  },
  { from: "pending", on: "declined", to: "failed", payout: payoutFailed, event: "payout.failed" },
  // Set aside: the payout stays pending until ops retry or resolve its operation.
  { from: "pending", on: "set_aside", to: "pending", payout: nothing, event: null },
  { from: "pending", on: "resolved", to: "failed", payout: payoutFailed, event: "payout.failed" },
  // Settled by ops: the bank paid it out (the money leaves to external) or returned it (back to the user).
  {
    from: "in_transit",
    on: "mark_paid",
    to: "paid",
    payout: (_, t) => ({ settle_transaction_id: t.transactionId, completed_at: t.now }),
    event: "payout.paid",
  },
  {
    from: "in_transit",
    on: "mark_failed",
    to: "failed",
    payout: (p, t) => ({ ...payoutFailed(p, t), settle_transaction_id: t.transactionId }),
    event: "payout.failed",
  },
];

const PAYOUT_BY_KEY = new Map(PAYOUT_TRANSITIONS.map((t) => [`${t.from}|${t.on}`, t]));
if (PAYOUT_BY_KEY.size !== PAYOUT_TRANSITIONS.length) {
  throw new Error("PAYOUT_TRANSITIONS has two rows for one state and trigger");
}

export function payoutTransitionFor(p: Pick<PayoutRow, "status">, on: PayoutTrigger) {
  return PAYOUT_BY_KEY.get(`${p.status}|${on}`);
}

export interface AppliedPayout {
  transition: PayoutTransition;
  payout: PayoutRow;
  before: PayoutRow;
}

/** Applies one payout transition (a new row, the old one untouched); refuses anything not in the table. */
export function applyPayoutTransition(
  payout: PayoutRow,
  on: PayoutTrigger,
  input: TransitionInput,
): AppliedPayout {
  const transition = payoutTransitionFor(payout, on);
  if (!transition) {
    throw new IllegalTransitionError(on === "mark_paid" || on === "mark_failed" ? on : "payout", payout, on);
  }
  const next: PayoutRow = {
    ...payout,
    ...transition.payout(payout, input),
    status: transition.to,
    updated_at: input.now,
  };
  return { transition, payout: next, before: payout };
}
