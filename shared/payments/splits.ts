import type { PaymentRow } from "./types.ts";

/**
 * Split payments: one payment, several payees. The payment row keeps `to_account` = the first
 * split's account (the merchant of record) and the whole list in `splits`, amounts in minor units.
 */

/** A split as stored in `payments.splits` (jsonb): the amount in minor units, as a string. */
export interface StoredSplit {
  to_account: string;
  amount: string;
}

export interface Split {
  account: string;
  amount: bigint;
}

export const MAX_SPLITS = 10;

/** The payment's payees with their amounts: its splits, or its one payee for the whole amount. */
export function splitsOf(p: Pick<PaymentRow, "to_account" | "amount" | "splits">): Split[] {
  return p.splits
    ? p.splits.map((s) => ({ account: s.to_account, amount: BigInt(s.amount) }))
    : [{ account: p.to_account, amount: p.amount }];
}

/** Every account party to the payment: the payer and each payee (events go to all their owners). */
export function partyAccounts(
  p: Pick<PaymentRow, "from_account" | "to_account"> & Partial<Pick<PaymentRow, "splits">>,
): string[] {
  return [...new Set([p.from_account, p.to_account, ...(p.splits ?? []).map((s) => s.to_account)])];
}

/**
 * The pro-rata rule, the one used for partial captures and refunds of split payments: `total`
 * divided over `weights` (positive, in order) as share_i = floor(total * w_i / W), W = sum of the
 * weights; the leftover minor units (total - sum of shares, always fewer than the number of
 * weights) go one each to the first weights in order, so the merchant of record (first) is served
 * first. The shares add up to `total` exactly, and when total <= W no share exceeds its weight.
 */
export function proRata(total: bigint, weights: readonly bigint[]): bigint[] {
  const sum = weights.reduce((a, w) => a + w, 0n);
  if (weights.length === 0 || sum <= 0n || weights.some((w) => w <= 0n) || total < 0n) {
    throw new RangeError("proRata needs a non-negative total and positive weights");
  }
  const shares = weights.map((w) => (total * w) / sum);
  let left = total - shares.reduce((a, s) => a + s, 0n);
  for (let i = 0; left > 0n; i++, left--) shares[i]! += 1n;
  return shares;
}
