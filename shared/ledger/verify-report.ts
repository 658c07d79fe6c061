import { formatAmount } from "../money.ts";
import type { LedgerCheck } from "./index.ts";

/** The ledger check as ops read it: amounts formatted, and one `ok` that must be true. */
export function ledgerReport(check: LedgerCheck) {
  const ok =
    check.trialBalance.every((t) => t.net === 0n) &&
    check.mismatchedAccounts.length === 0 &&
    check.heldMismatch.length === 0 &&
    check.heldMovementMismatch.length === 0;
  return {
    ok,
    checked_at: new Date().toISOString(),
    trial_balance: check.trialBalance.map((t) => ({
      currency: t.currency,
      net: formatAmount(t.net, t.currency),
    })),
    mismatched_accounts: check.mismatchedAccounts.map((a) => ({
      account_number: a.account_number,
      balance: String(a.balance),
      entries_sum: String(a.entries_sum),
    })),
    held_mismatches: [
      ...check.heldMismatch.map((h) => ({
        currency: h.currency,
        held_total: formatAmount(h.held_total, h.currency),
        holds_account_balance: formatAmount(h.holds_account_balance, h.currency),
      })),
      ...check.heldMovementMismatch.map((h) => ({
        account_number: h.account_number,
        held_balance: String(h.held_balance),
        movements_sum: String(h.movements_sum),
      })),
    ],
  };
}
