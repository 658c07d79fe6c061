import { z } from "@hono/zod-openapi";
import type { Balance } from "../../../shared/accounts.ts";
import { ACCOUNT_STATUSES, type AccountRow, type HistoryEntry } from "../../../shared/ledger/index.ts";
import { formatAmount } from "../../../shared/money.ts";

/** Response shapes of the account routes and the row -> object mappers. Amounts leave as strings. */

const Money = z.string().openapi({ description: "Decimal amount in major units", example: "50.00" });
const Timestamp = z.string().openapi({ format: "date-time" });

export const AccountSchema = z
  .object({
    account_number: z.string().openapi({ example: "ACC_7K3M9Q2T5W8Y1B4D" }),
    object: z.literal("account"),
    owner_id: z.string().nullable().openapi({ description: "null for system accounts" }),
    currency: z.string().openapi({ example: "USD" }),
    balance: Money.openapi({ description: "available_balance + held_balance" }),
    available_balance: Money.openapi({ description: "Sum of the account's ledger entries: spendable now" }),
    held_balance: Money.openapi({ description: "Authorized, not yet captured" }),
    status: z.enum(ACCOUNT_STATUSES).openapi({
      description: "active; frozen: receives but cannot pay (ops/admin); closed: neither pays nor receives",
    }),
    created_at: Timestamp,
  })
  .openapi("Account");

export function toAccount(row: AccountRow) {
  return {
    account_number: row.account_number,
    object: "account" as const,
    owner_id: row.owner_id,
    currency: row.currency,
    balance: formatAmount(row.balance + row.held_balance, row.currency),
    available_balance: formatAmount(row.balance, row.currency),
    held_balance: formatAmount(row.held_balance, row.currency),
    status: row.status,
    created_at: row.created_at.toISOString(),
  };
}

export const BalanceSchema = z
  .object({
    account_number: z.string(),
    currency: z.string(),
    balance: Money,
    available_balance: Money,
    held_balance: Money,
    pending_outgoing: Money.nullable().openapi({
      description:
        "Accepted, not yet posted debits of available_balance: payments and transfers from the account " +
        "(a manual-capture one until authorized), refunds it pays. Includes work set aside for ops. " +
        "null for a past `at`.",
    }),
    pending_incoming: Money.nullable().openapi({
      description:
        "Accepted, not yet posted credits of available_balance: payments, transfers and deposits to the " +
        "account, captures to it as payee (the captured amount), released holds (the uncaptured rest, " +
        "cancels, expiries) and refunds to it as payer. null for a past `at`.",
    }),
    as_of: Timestamp,
  })
  .openapi("Balance");

export function toBalance(b: Balance) {
  return {
    account_number: b.account_number,
    currency: b.currency,
    balance: formatAmount(b.available + b.held, b.currency),
    available_balance: formatAmount(b.available, b.currency),
    held_balance: formatAmount(b.held, b.currency),
    pending_outgoing: b.pendingOutgoing === null ? null : formatAmount(b.pendingOutgoing, b.currency),
    pending_incoming: b.pendingIncoming === null ? null : formatAmount(b.pendingIncoming, b.currency),
    as_of: b.asOf.toISOString(),
  };
}

export const LedgerEntrySchema = z
  .object({
    entry_id: z.string().openapi({ example: "le_1042" }),
    object: z.literal("ledger_entry"),
    account_number: z.string(),
    currency: z.string(),
    transaction_id: z.string(),
    payment_id: z.string().nullable(),
    refund_id: z.string().nullable(),
    direction: z.enum(["DEBIT", "CREDIT"]),
    amount: Money,
    balance_after: Money,
    description: z.string().nullable(),
    created_at: Timestamp,
  })
  .openapi("LedgerEntry");

export function toEntry(e: HistoryEntry) {
  return {
    entry_id: `le_${e.id}`,
    object: "ledger_entry" as const,
    account_number: e.account_number,
    currency: e.currency,
    transaction_id: e.transaction_id,
    payment_id: e.payment_id,
    refund_id: e.refund_id,
    direction: e.direction,
    amount: formatAmount(e.amount, e.currency),
    balance_after: formatAmount(e.balance_after, e.currency),
    description: e.description,
    created_at: e.created_at.toISOString(),
  };
}

export const AccountNumberParams = z.object({
  account_number: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "account_number", in: "path" }, example: "ACC_7K3M9Q2T5W8Y1B4D" }),
});
