import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { newId } from "../shared/ids.ts";
import { getBalances, history, post, postBatch, systemAccountNumber } from "../shared/ledger/index.ts";
import { expectLedgerHealthy, openFundedAccount, useSql } from "./support/db.ts";

const sql = useSql(20);

function transfer(from: string, to: string, amount: bigint, reference = newId("op")) {
  return {
    kind: "transfer",
    reference,
    legs: [
      { account: from, direction: "DEBIT" as const, amount },
      { account: to, direction: "CREDIT" as const, amount },
    ],
  };
}

async function pgError(promise: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await promise;
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error("expected the statement to fail");
}

describe("database invariants, tried directly in SQL", () => {
  it("rejects an unbalanced transaction at COMMIT", async () => {
    const a = await openFundedAccount(sql, "USD", 1000n);
    const txId = newId("tx");
    const err = await pgError(
      sql.begin(async (tx) => {
        await tx`insert into transactions (id, kind, reference) values (${txId}, 'test', ${txId})`;
        await tx`insert into ledger_entries (transaction_id, account_number, currency, direction, amount, balance_after)
                 values (${txId}, ${a.account_number}, 'USD', 'DEBIT', 100, 900)`;
        // The statement itself passes; only the deferred check at COMMIT refuses it.
      }),
    );
    expect(err.code).toBe("23514");
    expect(err.message).toMatch(/unbalanced/);
    const [row] = await sql`select count(*)::int as n from transactions where id = ${txId}`;
    expect(row?.n).toBe(0);
  });

  it("refuses UPDATE, DELETE and TRUNCATE of ledger entries and transactions", async () => {
    const a = await openFundedAccount(sql, "USD", 500n);
    for (const statement of [
      sql`update ledger_entries set amount = amount + 1 where account_number = ${a.account_number}`,
      sql`delete from ledger_entries where account_number = ${a.account_number}`,
      sql`truncate ledger_entries cascade`,
      sql`update transactions set description = 'x' where reference = ${`test-deposit:${a.account_number}`}`,
      sql`delete from transactions where reference = ${`test-deposit:${a.account_number}`}`,
      sql`truncate transactions cascade`,
    ]) {
      const err = await pgError(statement);
      expect(err.message).toMatch(/append-only/);
    }
    expect((await getBalances(sql, a.account_number))?.posted).toBe(500n);
  });

  it("refuses an overdraft of a non-overdraft account even when code does not check", async () => {
    const a = await openFundedAccount(sql, "USD", 100n);
    const err = await pgError(
      sql`update accounts set balance = -1 where account_number = ${a.account_number}`,
    );
    expect(err.code).toBe("23514");
  });

  it("refuses a balance that is not the sum of the account's entries", async () => {
    const a = await openFundedAccount(sql, "USD", 100n);
    const err = await pgError(
      sql`update accounts set balance = 5000 where account_number = ${a.account_number}`,
    );
    expect(err.message).toMatch(/does not equal the sum of its entries/);
  });

  it("refuses an entry that breaks the running balance", async () => {
    const a = await openFundedAccount(sql, "USD", 100n);
    const b = await openFundedAccount(sql, "USD", 0n);
    const txId = newId("tx");
    const err = await pgError(
      sql.begin(async (tx) => {
        await tx`insert into transactions (id, kind, reference) values (${txId}, 'test', ${txId})`;
        await tx`insert into ledger_entries (transaction_id, account_number, currency, direction, amount, balance_after)
                 values (${txId}, ${a.account_number}, 'USD', 'DEBIT', 10, 999),
                        (${txId}, ${b.account_number}, 'USD', 'CREDIT', 10, 10)`;
      }),
    );
    expect(err.message).toMatch(/running balance/);
  });

  it("refuses an entry whose currency differs from its account's", async () => {
    const a = await openFundedAccount(sql, "USD", 100n);
    const txId = newId("tx");
    const err = await pgError(
      sql.begin(async (tx) => {
        await tx`insert into transactions (id, kind, reference) values (${txId}, 'test', ${txId})`;
        await tx`insert into ledger_entries (transaction_id, account_number, currency, direction, amount, balance_after)
                 values (${txId}, ${a.account_number}, 'EUR', 'CREDIT', 10, 110)`;
      }),
    );
    expect(err.code).toBe("23503");
  });

  it("refuses posting the same cause twice (unique reference)", async () => {
    const a = await openFundedAccount(sql, "USD", 100n);
    const b = await openFundedAccount(sql, "USD", 0n);
    const ref = newId("op");
    await sql.begin((tx) => post(tx, transfer(a.account_number, b.account_number, 10n, ref)));
    const err = await pgError(
      sql.begin((tx) => post(tx, transfer(a.account_number, b.account_number, 10n, ref))),
    );
    expect(err.code).toBe("23505");
    expect((await getBalances(sql, b.account_number))?.posted).toBe(10n);
  });
});

describe("post", () => {
  it("moves money, writes balance_after and declines overdrafts as outcomes", async () => {
    const a = await openFundedAccount(sql, "JPY", 1000n);
    const b = await openFundedAccount(sql, "JPY", 0n);
    const results = await sql.begin((tx) =>
      postBatch(tx, [
        transfer(a.account_number, b.account_number, 600n),
        transfer(a.account_number, b.account_number, 600n), // would overdraw: declined
        transfer(a.account_number, b.account_number, 400n),
      ]),
    );
    expect(results.map((r) => (r.ok ? "ok" : r.code))).toEqual(["ok", "insufficient_funds", "ok"]);
    expect((await getBalances(sql, a.account_number))?.posted).toBe(0n);
    expect((await getBalances(sql, b.account_number))?.posted).toBe(1000n);
    const page = await history(sql, { accounts: [a.account_number], limit: 10 });
    expect(page.entries.map((e) => [e.direction, e.amount, e.balance_after])).toEqual([
      ["DEBIT", 400n, 0n],
      ["DEBIT", 600n, 400n],
      ["CREDIT", 1000n, 1000n],
    ]);
    const next = await history(sql, { accounts: [a.account_number], limit: 2 });
    expect(next.hasMore).toBe(true);
    const rest = await history(sql, { accounts: [a.account_number], limit: 2, before: next.entries[1]?.id });
    expect(rest.entries).toHaveLength(1);
    expect(rest.hasMore).toBe(false);
  });

  it("declines movements touching a missing account without writing anything", async () => {
    const a = await openFundedAccount(sql, "USD", 100n);
    const [result] = await sql.begin((tx) => postBatch(tx, [transfer(a.account_number, "ACC_MISSING", 10n)]));
    expect(result).toMatchObject({ ok: false, code: "account_not_found" });
    expect((await getBalances(sql, a.account_number))?.posted).toBe(100n);
  });

  it("survives 200 concurrent posts among 5 accounts with no deadlock or negative balance", async () => {
    const accounts = await Promise.all([0, 1, 2, 3, 4].map(() => openFundedAccount(sql, "EUR", 10_000n)));
    const numbers = accounts.map((a) => a.account_number);
    const rng = fc.sample(fc.tuple(fc.nat(4), fc.nat(4), fc.bigInt(1n, 4_000n)), { numRuns: 200, seed: 42 });
    const outcomes = await Promise.allSettled(
      rng.map(([i, j, amount]) => {
        const from = numbers[i]!;
        const to = numbers[(i + 1 + (j % 4)) % 5]!;
        return sql.begin((tx) => post(tx, transfer(from, to, amount)));
      }),
    );
    const rejected = outcomes
      .filter((o) => o.status === "rejected")
      .map((o) => (o as PromiseRejectedResult).reason);
    // Only business declines, never a deadlock or a constraint violation.
    for (const reason of rejected) expect((reason as { code?: string }).code).toBe("insufficient_funds");
    expect(outcomes.length - rejected.length).toBeGreaterThan(0);
    let total = 0n;
    for (const n of numbers) {
      const b = await getBalances(sql, n);
      expect(b!.posted >= 0n).toBe(true);
      total += b!.posted;
    }
    expect(total).toBe(50_000n);
    await expectLedgerHealthy(sql);
  });
});

describe("property: random posting sequences keep the ledger's invariants", () => {
  it("balances never go negative, total is conserved, the ledger stays balanced", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(3), fc.nat(3), fc.bigInt(1n, 500n)), { minLength: 1, maxLength: 30 }),
        fc.boolean(),
        async (moves, batched) => {
          const accounts = await Promise.all(
            [300n, 0n, 50n, 1n].map((a) => openFundedAccount(sql, "KWD", a)),
          );
          const postings = moves
            .filter(([i, j]) => i !== j)
            .map(([i, j, amount]) =>
              transfer(accounts[i]!.account_number, accounts[j]!.account_number, amount),
            );
          if (batched) {
            await sql.begin((tx) => postBatch(tx, postings));
          } else {
            for (const p of postings) await sql.begin((tx) => postBatch(tx, [p]));
          }
          let total = 0n;
          for (const a of accounts) {
            const b = (await getBalances(sql, a.account_number))!;
            expect(b.posted >= 0n).toBe(true);
            total += b.posted;
          }
          expect(total).toBe(351n);
        },
      ),
      { numRuns: 25 },
    );
    await expectLedgerHealthy(sql);
    const [ext] =
      await sql`select balance from accounts where account_number = ${systemAccountNumber("external", "KWD")}`;
    expect((ext?.balance as bigint) < 0n).toBe(true);
  });
});

describe("held balances", () => {
  it("changes the held balance of an account that has no leg in the posting", async () => {
    const payer = await openFundedAccount(sql, "USD", 1_000n);
    const payee = await openFundedAccount(sql, "USD", 0n);
    const holds = systemAccountNumber("holds", "USD");
    await sql.begin((tx) =>
      post(tx, {
        kind: "authorization",
        reference: newId("op"),
        legs: [
          { account: payer.account_number, direction: "DEBIT", amount: 400n },
          { account: holds, direction: "CREDIT", amount: 400n },
        ],
        holdChanges: [{ account: payer.account_number, delta: 400n }],
      }),
    );
    // Full capture: the payer has no leg, only a held-balance change.
    await sql.begin((tx) =>
      post(tx, {
        kind: "capture",
        reference: newId("op"),
        legs: [
          { account: holds, direction: "DEBIT", amount: 400n },
          { account: payee.account_number, direction: "CREDIT", amount: 400n },
        ],
        holdChanges: [{ account: payer.account_number, delta: -400n }],
      }),
    );
    expect(await getBalances(sql, payer.account_number)).toEqual({ posted: 600n, held: 0n });
    expect((await getBalances(sql, payee.account_number))?.posted).toBe(400n);
    await expectLedgerHealthy(sql);
  });
});
