import type { Db } from "../db/index.ts";
import { newAccountNumber } from "../ids.ts";

export type SystemRole = "external" | "holds" | "payouts_in_transit";

export const ACCOUNT_STATUSES = ["active", "frozen", "closed"] as const;
export type AccountStatus = (typeof ACCOUNT_STATUSES)[number];

export interface AccountRow {
  account_number: string;
  owner_id: string | null;
  currency: string;
  kind: "user" | "system";
  system_role: SystemRole | null;
  allow_overdraft: boolean;
  /** frozen: receives but cannot pay; closed: neither (migration 010). */
  status: AccountStatus;
  balance: bigint;
  held_balance: bigint;
  frozen_at: Date | null;
  closed_at: Date | null;
  created_at: Date;
}

/** `SYS_EXTERNAL_USD`, `SYS_HOLDS_USD`, `SYS_PAYOUTS_IN_TRANSIT_USD`: one of each per currency, made on first use. */
export function systemAccountNumber(role: SystemRole, currency: string): string {
  return `SYS_${role.toUpperCase()}_${currency}`;
}

/**
 * Makes sure the currency's system accounts exist. Money enters the ledger only from `external`
 * (which may go negative: it mirrors money held outside) and authorizations sit in `holds`;
 * payouts wait in `payouts_in_transit` between leaving the user and being paid out (or returned).
 */
export async function ensureSystemAccounts(db: Db, currency: string): Promise<void> {
  await db`
    insert into accounts (account_number, currency, kind, system_role, allow_overdraft)
    values (${systemAccountNumber("external", currency)}, ${currency}, 'system', 'external', true),
           (${systemAccountNumber("holds", currency)}, ${currency}, 'system', 'holds', false),
           (${systemAccountNumber("payouts_in_transit", currency)}, ${currency}, 'system', 'payouts_in_transit', false)
    on conflict do nothing`;
}

/** Opens a user's wallet account in `currency` (which the caller has validated). */
export async function openAccount(db: Db, input: { ownerId: string; currency: string }): Promise<AccountRow> {
  await ensureSystemAccounts(db, input.currency);
  const [row] = await db<AccountRow[]>`
    insert into accounts (account_number, owner_id, currency, kind)
    values (${newAccountNumber()}, ${input.ownerId}, ${input.currency}, 'user')
    returning *`;
  if (!row) throw new Error("insert returned no row");
  return row;
}

export async function findAccount(db: Db, accountNumber: string): Promise<AccountRow | null> {
  const [row] = await db<AccountRow[]>`select * from accounts where account_number = ${accountNumber}`;
  return row ?? null;
}
