import { describe, expect, it } from "vitest";
import type { Principal, Role } from "../shared/context.ts";
import { NotFoundError } from "../shared/errors.ts";
import { newId } from "../shared/ids.ts";
import { openAccount } from "../shared/ledger/index.ts";
import {
  maySee,
  type Parties,
  partiesOf,
  visibleParties,
  visiblePaymentIds,
} from "../shared/payments/parties.ts";
import { insertUser, useSql } from "./support/db.ts";

/** The one rule for "is the caller a party to this payment", in both its forms (row and list). */
const sql = useSql();

async function userWithAccount(role: Role): Promise<{ principal: Principal; account: string }> {
  const userId = await insertUser(sql, role);
  const account = await openAccount(sql, { ownerId: userId, currency: "USD" });
  return { principal: { userId, role, apiKeyId: null }, account: account.account_number };
}

/** A finished payment row straight in the table: no money moves, only its two accounts matter here. */
async function paymentBetween(from: string, to: string, createdBy: string) {
  const [row] = await sql<{ id: string; from_account: string; to_account: string }[]>`
    insert into payments (id, type, status, from_account, to_account, amount, currency, created_by, completed_at)
    values (${newId("pay")}, 'payment', 'canceled', ${from}, ${to}, 100, 'USD', ${createdBy}, clock_timestamp())
    returning id, from_account, to_account`;
  return row!;
}

const payer = await userWithAccount("customer");
const payee = await userWithAccount("merchant");
const stranger = await userWithAccount("customer");
const ops = await userWithAccount("ops");
const admin = await userWithAccount("admin");
const payment = await paymentBetween(payer.account, payee.account, payer.principal.userId);

async function listed(principal: Principal, id: string): Promise<boolean> {
  const visible = visiblePaymentIds(sql, principal);
  const rows =
    await sql`select id from payments where id = ${id} ${visible ? sql`and id in (${visible})` : sql``}`;
  return rows.length === 1;
}

const cases: [string, { principal: Principal }, Parties, boolean][] = [
  ["the payer", payer, { payer: true, payee: false, splitPayee: false }, true],
  ["the payee", payee, { payer: false, payee: true, splitPayee: false }, true],
  ["a stranger", stranger, { payer: false, payee: false, splitPayee: false }, false],
  ["ops", ops, { payer: false, payee: false, splitPayee: false }, true],
  ["an admin", admin, { payer: false, payee: false, splitPayee: false }, true],
];

describe("the party rule", () => {
  it.each(cases)("%s", async (_name, who, parties, visible) => {
    expect(await partiesOf(sql, who.principal, payment)).toEqual(parties);
    expect(maySee(who.principal, parties)).toBe(visible);
    if (visible) expect(await visibleParties(sql, who.principal, payment)).toEqual(parties);
    else
      await expect(visibleParties(sql, who.principal, payment)).rejects.toMatchObject({
        status: 404,
        code: "payment_not_found",
      });
    // The list form says the same as the row form.
    expect(await listed(who.principal, payment.id)).toBe(visible);
  });

  it("makes one owner of both accounts payer and payee", async () => {
    const self = await userWithAccount("customer");
    const second = await openAccount(sql, { ownerId: self.principal.userId, currency: "USD" });
    const own = await paymentBetween(self.account, second.account_number, self.principal.userId);
    expect(await visibleParties(sql, self.principal, own)).toEqual({
      payer: true,
      payee: true,
      splitPayee: false,
    });
  });

  it("counts ownership, not the role: an ops user who owns the payee account is the payee", async () => {
    const opsPayee = await userWithAccount("ops");
    const p = await paymentBetween(payer.account, opsPayee.account, payer.principal.userId);
    expect(await partiesOf(sql, opsPayee.principal, p)).toEqual({
      payer: false,
      payee: true,
      splitPayee: false,
    });
  });

  it("refuses with the caller's own 404 when one is given", async () => {
    const pointed = () => new NotFoundError("payment", "payment_not_found", "/payment_id");
    const err = await visibleParties(sql, stranger.principal, payment, pointed).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as NotFoundError).errors).toEqual([{ pointer: "/payment_id", detail: expect.any(String) }]);
  });
});
