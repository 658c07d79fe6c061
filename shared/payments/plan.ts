import type { Services } from "../context.ts";
import type { Tx } from "../db/index.ts";
import type { PostingInput } from "../ledger/index.ts";
import { paymentObject, refundObject } from "./serialize.ts";
import type { PaymentRow, RefundRow } from "./types.ts";

/** The vocabulary of the posting engine: operations, the batch's state, plans and events. */

export type OperationKind = "payment" | "capture" | "cancel" | "expire" | "refund";

export interface OperationRow {
  id: string;
  seq: bigint;
  partition: number;
  kind: OperationKind;
  payment_id: string;
  refund_id: string | null;
  amount: bigint | null;
}

export interface EventDraft {
  type: string;
  paymentId: string;
  refundId: string | null;
  /** Accounts whose owners may see the event. */
  accounts: string[];
  object: unknown;
}

/** What one operation wants: a ledger posting (or none) and what to record for each outcome. */
export interface Plan {
  posting: PostingInput | null;
  /** Applied to the batch state when the posting went through (or when there is none). */
  onPosted(result: { transactionId: string | null; now: Date }): EventDraft[];
  onDeclined(result: { code: string; message: string; now: Date }): EventDraft[];
}

/** The rows a batch works on (locked), changed in memory and written back once at the end. */
export interface BatchState {
  payments: Map<string, PaymentRow>;
  refunds: Map<string, RefundRow>;
  dirtyPayments: Set<string>;
  dirtyRefunds: Set<string>;
  services: Services;
  tx: Tx;
}

/** Returns null when the operation has nothing left to do (already done by an earlier run). */
export type Planner = (op: OperationRow, state: BatchState) => Plan | null;

export function paymentEvent(type: string, p: PaymentRow): EventDraft {
  return {
    type,
    paymentId: p.id,
    refundId: null,
    accounts: [p.from_account, p.to_account],
    object: paymentObject(p),
  };
}

export function refundEvent(type: string, r: RefundRow, p: PaymentRow): EventDraft {
  return {
    type,
    paymentId: p.id,
    refundId: r.id,
    accounts: [p.from_account, p.to_account],
    object: refundObject(r),
  };
}
