import type { StoredSplit } from "./splits.ts";
import type { PaymentStatus, PendingAction, RefundStatus } from "./state.ts";

export type { PaymentStatus, PendingAction, RefundStatus } from "./state.ts";

export type PaymentType = "payment" | "transfer" | "deposit";
export type CaptureMethod = "automatic" | "manual";

export interface PaymentRow {
  id: string;
  type: PaymentType;
  status: PaymentStatus;
  from_account: string;
  /** The payee; for a split payment, the first split's account (the merchant of record). */
  to_account: string;
  /** A split payment's payees in order (null for an ordinary payment). */
  splits: StoredSplit[] | null;
  amount: bigint;
  currency: string;
  capture_method: CaptureMethod;
  amount_capturable: bigint;
  amount_captured: bigint;
  amount_refunded: bigint;
  description: string | null;
  metadata: Record<string, string>;
  failure_code: string | null;
  failure_message: string | null;
  transaction_id: string | null;
  hold_expires_at: Date | null;
  /** A capture, cancel or expiry accepted and waiting to be posted: no second one may be accepted. */
  pending_action: PendingAction | null;
  pending_action_amount: bigint | null;
  created_by: string;
  created_at: Date;
  updated_at: Date;
  completed_at: Date | null;
}

export type RefundReason = "duplicate" | "fraudulent" | "requested_by_customer";

export interface RefundRow {
  id: string;
  payment_id: string;
  amount: bigint;
  currency: string;
  status: RefundStatus;
  reason: RefundReason | null;
  failure_code: string | null;
  failure_message: string | null;
  transaction_id: string | null;
  created_by: string;
  created_at: Date;
  updated_at: Date;
  completed_at: Date | null;
}
