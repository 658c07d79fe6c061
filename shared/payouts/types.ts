import type { PayoutStatus } from "../payments/state.ts";

/**
 * Where a payout goes, as stored: only what a bank transfer needs. Either an IBAN, or a US routing
 * number and account number. Responses mask the numbers (`last4`), like Stripe's bank accounts.
 */
export type PayoutDestination =
  | { type: "bank_account"; account_holder: string; iban: string }
  | { type: "bank_account"; account_holder: string; routing_number: string; account_number: string };

export interface PayoutRow {
  id: string;
  status: PayoutStatus;
  from_account: string;
  amount: bigint;
  currency: string;
  destination: PayoutDestination;
  description: string | null;
  failure_code: string | null;
  failure_message: string | null;
  /** User account -> in transit. */
  transaction_id: string | null;
  /** In transit -> external (paid) or back to the user (failed after being in transit). */
  settle_transaction_id: string | null;
  created_by: string;
  created_at: Date;
  updated_at: Date;
  completed_at: Date | null;
}
