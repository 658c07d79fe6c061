import { type Ctx, canReadAll } from "../context.ts";
import { NotFoundError } from "../errors.ts";
import { decodeCursor, type Page, pageOf } from "../pagination.ts";
import { splitPayeeOf, visibleParties } from "./parties.ts";
import { type PaymentObject, paymentObject } from "./serialize.ts";
import type { PaymentRow, PaymentStatus } from "./types.ts";

/**
 * A payment the caller may see: as payer or payee (owner of either account), or as ops/admin.
 * Anything else is indistinguishable from a payment that does not exist.
 */
export async function findVisiblePayment(ctx: Ctx, id: string): Promise<PaymentRow> {
  const [row] = await ctx.sql<PaymentRow[]>`select * from payments where id = ${id}`;
  if (!row) throw new NotFoundError("payment", "payment_not_found");
  await visibleParties(ctx.sql, ctx.principal, row);
  return row;
}

export async function getPayment(ctx: Ctx, id: string): Promise<PaymentObject> {
  return paymentObject(await findVisiblePayment(ctx, id));
}

export interface ListPaymentsInput {
  status?: PaymentStatus;
  account?: string;
  limit: number;
  cursor?: string;
}

/** Payments `accounts` pay or are paid by, as split payees too (each way answered by an index). */
function paidBy(sql: Ctx["sql"], accounts: string[]) {
  return sql`p.from_account = any(${accounts}::text[]) or p.to_account = any(${accounts}::text[])
    or p.id in (select s.id from unnest(${accounts}::text[]) as acc(n)
                  join payments s on s.splits @> ${splitPayeeOf(sql, sql`acc.n`)})`;
}

/** Payments where the caller is payer, payee or a split payee (ops/admin: all), newest first. */
export async function listPayments(ctx: Ctx, input: ListPaymentsInput): Promise<Page<PaymentObject>> {
  const before = decodeCursor(input.cursor, /^pay_[0-9A-Z]{26}$/);
  const { sql } = ctx;
  const all = canReadAll(ctx.principal);
  // Own accounts first (small), then both indexed directions: no scan of others' payments.
  const own = all
    ? null
    : (
        await sql<
          { account_number: string }[]
        >`select account_number from accounts where owner_id = ${ctx.principal.userId}`
      ).map((r) => r.account_number);
  const accounts = input.account ? (own ? own.filter((a) => a === input.account) : [input.account]) : own;
  const rows = await sql<PaymentRow[]>`
    select * from payments p
     where true
       ${accounts ? sql`and (${paidBy(sql, accounts)})` : sql``}
       ${input.status ? sql`and p.status = ${input.status}` : sql``}
       ${before ? sql`and p.id < ${before}` : sql``}
     order by p.id desc
     limit ${input.limit + 1}`;
  return pageOf(rows, input.limit, (r) => r.id, paymentObject);
}
