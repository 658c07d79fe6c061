import type postgres from "postgres";
import { canReadAll, type Principal } from "../context.ts";
import type { Db } from "../db/index.ts";
import { NotFoundError } from "../errors.ts";
import { partyAccounts } from "./splits.ts";
import type { PaymentRow } from "./types.ts";

/**
 * Who the caller is to a payment, the one rule every verb uses: owning its debited account makes
 * them the payer, owning its credited account the payee (both, between one's own accounts). A
 * payment is visible to its parties and to ops/admin; to anyone else it does not exist (404), so
 * a stranger cannot even learn a payment id is real. What a party may then do (capture, cancel,
 * refund) is each verb's own 403 rule.
 *
 * A split payment has several payees: `payee` is the merchant of record only (the first split's
 * account, the row's `to_account`), who may capture and refund; owning any other split's account
 * makes the caller a `splitPayee`, who sees the payment, its refunds and events, and nothing more.
 */
export interface Parties {
  payer: boolean;
  payee: boolean;
  splitPayee: boolean;
}

type PaymentAccounts = Pick<PaymentRow, "from_account" | "to_account"> & Partial<Pick<PaymentRow, "splits">>;

/** How `principal` relates to `payment`, from the ownership of its accounts: one query. */
export async function partiesOf(db: Db, principal: Principal, payment: PaymentAccounts): Promise<Parties> {
  const owned = await db<{ account_number: string }[]>`
    select account_number from accounts
     where account_number = any(${partyAccounts(payment)}::text[]) and owner_id = ${principal.userId}`;
  const mine = new Set(owned.map((o) => o.account_number));
  return {
    payer: mine.has(payment.from_account),
    payee: mine.has(payment.to_account),
    splitPayee: (payment.splits ?? []).some((s) => mine.has(s.to_account)),
  };
}

/** The visibility rule: a party, or a role that reads everything. */
export function maySee(principal: Principal, parties: Parties): boolean {
  return parties.payer || parties.payee || parties.splitPayee || canReadAll(principal);
}

/**
 * `partiesOf`, refusing a caller who may not see the payment with `notFound()` (by default the
 * payment's 404; a verb that names the payment in its body points at that field instead).
 */
export async function visibleParties(
  db: Db,
  principal: Principal,
  payment: PaymentAccounts,
  notFound: () => NotFoundError = () => new NotFoundError("payment", "payment_not_found"),
): Promise<Parties> {
  const parties = await partiesOf(db, principal, payment);
  if (!maySee(principal, parties)) throw notFound();
  return parties;
}

/**
 * SQL matching a payment's `splits` that pay `account` (an SQL expression): `splits @> <this>`,
 * which the GIN index on payments.splits answers.
 */
export function splitPayeeOf(db: Db, account: postgres.Fragment) {
  return db`jsonb_build_array(jsonb_build_object('to_account', ${account}))`;
}

/**
 * The same rule for lists, as SQL: the ids of the payments `principal` may see, or null when they
 * may see them all (use as `payment_id in (...)`).
 */
export function visiblePaymentIds(db: Db, principal: Principal) {
  if (canReadAll(principal)) return null;
  return db`
    select p.id from payments p join accounts a on a.account_number in (p.from_account, p.to_account)
     where a.owner_id = ${principal.userId}
    union all
    select p.id from accounts a join payments p on p.splits @> ${splitPayeeOf(db, db`a.account_number`)}
     where a.owner_id = ${principal.userId}`;
}
