import type { PostingInput } from "../ledger/index.ts";
import type { EventType } from "../webhooks/events.ts";
import { paymentObject, refundObject } from "./serialize.ts";
import { partyAccounts } from "./splits.ts";
import type { Failure, OperationKind, Outcome } from "./state.ts";
import type { PaymentRow, RefundRow } from "./types.ts";

/** The vocabulary of the posting engine: operations, snapshots, plans and events. */

export type { OperationKind } from "./state.ts";

export interface OperationRow {
  id: string;
  seq: bigint;
  kind: OperationKind;
  /** The payment it is about, or (kind `payout`) the payout: exactly one of the two. */
  payment_id: string | null;
  payout_id: string | null;
  refund_id: string | null;
  amount: bigint | null;
  /** The debited account's order key: the partition is `order_key mod POSTING_PARTITIONS`. */
  order_key: bigint;
}

/** What a planner sees: the operation's payment and refund as locked, and what the batch already plans. */
export interface Snapshot {
  payment: PaymentRow;
  refund: RefundRow | null;
  /** Refunds of this payment planned earlier in the same batch and not yet posted. */
  refundsInFlight: bigint;
}

/** An outcome of the state table, with its reason when it is a decline decided by the planner. */
export interface Change {
  outcome: Outcome;
  failure?: Failure;
}

/**
 * What one operation wants, as data: a ledger posting (or none), and the change to apply when the
 * posting goes through (or at once when there is none) or when the ledger declines it. A null
 * `ifDeclined` means a decline is impossible unless something is broken: the operation fails.
 */
export interface Plan {
  posting: PostingInput | null;
  ifPosted: Change;
  ifDeclined: Change | null;
}

/** A pure function of the operation and the rows it concerns; null when there is nothing left to do. */
export type Planner = (op: OperationRow, snapshot: Snapshot) => Plan | null;

export interface EventDraft {
  type: EventType;
  paymentId: string | null;
  refundId: string | null;
  payoutId?: string | null;
  /** Accounts whose owners may see the event. */
  accounts: string[];
  object: unknown;
}

export function paymentEvent(type: EventType, p: PaymentRow): EventDraft {
  return {
    type,
    paymentId: p.id,
    refundId: null,
    accounts: partyAccounts(p),
    object: paymentObject(p),
  };
}

export function refundEvent(type: EventType, r: RefundRow, p: PaymentRow): EventDraft {
  return {
    type,
    paymentId: p.id,
    refundId: r.id,
    accounts: partyAccounts(p),
    object: refundObject(r),
  };
}
