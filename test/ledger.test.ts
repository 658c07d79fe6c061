import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createSql, type Sql } from "../shared/db/index.ts";
import { newId } from "../shared/ids.ts";
import { getBalances, history, post, postBatch, systemAccountNumber } from "../shared/ledger/index.ts";
import { expectLedgerHealthy, insertUser, openFundedAccount, testConfig, useSql } from "./support/db.ts";

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
  it("rejects an unbalanced transaction (its statement fails, nothing stays)", async () => {
    const a = await openFundedAccount(sql, "USD", 1000n);
    const txId = newId("tx");
    const err = await pgError(
      sql.begin(async (tx) => {
        await tx`insert into transactions (id, kind, reference) values (${txId}, 'test', ${txId})`;
        await tx`insert into ledger_entries (transaction_id, account_number, currency, direction, amount, balance_after)
                 values (${txId}, ${a.account_number}, 'USD', 'DEBIT', 100, 900)`;
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

describe("set-based checks (migration 015)", () => {
  it("refuses a leg written in a statement of its own, even if a later one would balance it", async () => {
    const a = await openFundedAccount(sql, "USD", 1000n);
    const b = await openFundedAccount(sql, "USD", 0n);
    const txId = newId("tx");
    const err = await pgError(
      sql.begin(async (tx) => {
        await tx`insert into transactions (id, kind, reference) values (${txId}, 'test', ${txId})`;
        await tx`insert into ledger_entries (transaction_id, account_number, currency, direction, amount, balance_after)
                 values (${txId}, ${a.account_number}, 'USD', 'DEBIT', 100, 900)`;
        await tx`insert into ledger_entries (transaction_id, account_number, currency, direction, amount, balance_after)
                 values (${txId}, ${b.account_number}, 'USD', 'CREDIT', 100, 100)`;
      }),
    );
    expect(err.code).toBe("23514");
    expect(err.message).toMatch(/unbalanced/);
    expect((await getBalances(sql, a.account_number))?.posted).toBe(1000n);
  });

  it("checks the running balance of several entries of one account in one statement, in id order", async () => {
    const a = await openFundedAccount(sql, "USD", 1000n);
    const b = await openFundedAccount(sql, "USD", 0n);
    const txId = newId("tx");
    const insert = (bAfterSecond: number) =>
      sql.begin(async (tx) => {
        await tx`insert into transactions (id, kind, reference) values (${txId}, 'test', ${txId})`;
        await tx`insert into ledger_entries (transaction_id, account_number, currency, direction, amount, balance_after)
                 values (${txId}, ${a.account_number}, 'USD', 'DEBIT', 10, 990),
                        (${txId}, ${b.account_number}, 'USD', 'CREDIT', 10, 10),
                        (${txId}, ${a.account_number}, 'USD', 'DEBIT', 5, 985),
                        (${txId}, ${b.account_number}, 'USD', 'CREDIT', 5, ${bAfterSecond})`;
        await tx`update accounts set balance = balance - 15 where account_number = ${a.account_number}`;
        await tx`update accounts set balance = balance + 15 where account_number = ${b.account_number}`;
      });
    const err = await pgError(insert(16)); // 10 + 5 is 15, not 16
    expect(err.message).toMatch(/running balance/);
    await insert(15);
    expect((await getBalances(sql, b.account_number))?.posted).toBe(15n);
    await expectLedgerHealthy(sql);
  });

  it("serializes two writers of one account that do not lock it: the second, continuing a stale balance, fails", async () => {
    const a = await openFundedAccount(sql, "USD", 1000n);
    const ext = systemAccountNumber("external", "USD");
    // Both transactions read balance 1000 and write 1000 + 1 without locking the account first.
    const write = (tx: typeof sql, txId: string) =>
      tx`insert into ledger_entries (transaction_id, account_number, currency, direction, amount, balance_after)
         select ${txId}, ${a.account_number}, 'USD', 'CREDIT', 1, 1001
         union all
         select ${txId}, ${ext}, 'USD', 'DEBIT', 1,
                (select balance - 1 from accounts where account_number = ${ext})`;
    const first = newId("tx");
    const second = newId("tx");
    let releaseFirst!: () => void;
    const firstMayCommit = new Promise<void>((r) => {
      releaseFirst = r;
    });
    let firstWrote!: () => void;
    const firstHasWritten = new Promise<void>((r) => {
      firstWrote = r;
    });
    const one = sql.begin(async (tx) => {
      await tx`insert into transactions (id, kind, reference) values (${first}, 'test', ${first})`;
      await write(tx as never, first);
      await tx`update accounts set balance = balance + 1 where account_number = ${a.account_number}`;
      await tx`update accounts set balance = balance - 1 where account_number = ${ext}`;
      firstWrote();
      await firstMayCommit;
    });
    await firstHasWritten;
    const two = pgError(
      sql.begin(async (tx) => {
        await tx`insert into transactions (id, kind, reference) values (${second}, 'test', ${second})`;
        await write(tx as never, second); // waits for the first writer's account lock
      }),
    );
    await new Promise((r) => setTimeout(r, 200));
    releaseFirst();
    await one;
    const err = await two;
    expect(err.message).toMatch(/running balance/);
    expect((await getBalances(sql, a.account_number))?.posted).toBe(1001n);
    await expectLedgerHealthy(sql);
  });

  it("refuses rows whose parents do not exist, with the foreign-key errcode", async () => {
    const a = await openFundedAccount(sql, "USD", 100n);
    const b = await openFundedAccount(sql, "USD", 0n);
    const user = await insertUser(sql);
    const payment = (from: string, createdBy: string) =>
      sql`insert into payments (id, type, from_account, to_account, amount, currency, created_by)
          values (${newId("pay")}, 'payment', ${from}, ${b.account_number}, 1, 'USD', ${createdBy})`;
    const missingAccount = await pgError(payment("ACC_NOPE", user));
    expect(missingAccount.code).toBe("23503");
    expect(missingAccount.message).toMatch(/account ACC_NOPE/);
    const missingUser = await pgError(payment(a.account_number, "usr_nope"));
    expect(missingUser.code).toBe("23503");
    for (const statement of [
      sql`insert into operations (id, order_key, kind, payment_id) values (${newId("op")}, 1, 'payment', 'pay_nope')`,
      sql`insert into events (id, type, payment_id, user_ids, data) values (${newId("evt")}, 'payment.succeeded', 'pay_nope', '{}', '{}')`,
      sql`insert into transactions (id, kind, reference, payment_id) values (${newId("tx")}, 'test', ${newId("op")}, 'pay_nope')`,
      sql`insert into ledger_entries (transaction_id, account_number, currency, direction, amount, balance_after)
          values ('tx_nope', ${a.account_number}, 'USD', 'CREDIT', 1, 101)`,
    ]) {
      const err = await pgError(statement);
      expect(err.code).toBe("23503");
      expect(err.message).toMatch(/does not exist/);
    }
    // A reference changed later is checked too (to another existing row it may change, as a
    // foreign key allows).
    const [pay] = await sql<{ id: string }[]>`
      insert into payments (id, type, from_account, to_account, amount, currency, created_by)
      values (${newId("pay")}, 'payment', ${a.account_number}, ${b.account_number}, 1, 'USD', ${user}) returning id`;
    const [op] = await sql<{ id: string }[]>`
      insert into operations (id, order_key, kind, payment_id) values (${newId("op")}, 1, 'payment', ${pay!.id}) returning id`;
    for (const statement of [
      sql`update payments set to_account = 'ACC_NOPE' where id = ${pay!.id}`,
      sql`update payments set created_by = 'usr_nope' where id = ${pay!.id}`,
      sql`update operations set payment_id = 'pay_nope' where id = ${op!.id}`,
    ]) {
      expect((await pgError(statement)).code).toBe("23503");
    }
    const c = await openFundedAccount(sql, "USD", 0n);
    await sql`update payments set to_account = ${c.account_number} where id = ${pay!.id}`;
  });

  it("never deletes a parent or changes its key, so what was checked stays true", async () => {
    const a = await openFundedAccount(sql, "USD", 100n);
    const b = await openFundedAccount(sql, "USD", 0n);
    const owner = a.owner_id!;
    await sql`insert into payments (id, type, from_account, to_account, amount, currency, created_by)
              values (${newId("pay")}, 'payment', ${a.account_number}, ${b.account_number}, 1, 'USD', ${owner})`;
    for (const statement of [
      sql`delete from accounts where account_number = ${a.account_number}`,
      sql`update accounts set account_number = 'ACC_OTHER' where account_number = ${a.account_number}`,
      sql`update accounts set currency = 'EUR' where account_number = ${a.account_number}`,
      sql`truncate accounts cascade`,
      sql`delete from users where id = ${owner}`,
      sql`update users set id = 'usr_other' where id = ${owner}`,
      sql`truncate users cascade`,
      sql`truncate payments cascade`,
      sql`delete from payments where from_account = ${a.account_number}`,
      sql`update payments set id = 'pay_other' where from_account = ${a.account_number}`,
    ]) {
      const err = await pgError(statement);
      expect(err.code).toBe("23001");
    }
    // Other columns still change.
    await sql`update accounts set allow_overdraft = false where account_number = ${a.account_number}`;
    expect((await getBalances(sql, a.account_number))?.posted).toBe(100n);
  });
});

describe("reference checks probe the parent's key per new row (migration 017)", () => {
  // The checks run as plans cached per connection, planned on first use: a connection of its own
  // plans them here, in a transaction that has just grown the parent tables and analyzed them, so
  // the planner sees hundreds of new rows against a parent table of thousands, where an anti join
  // would rather hash the whole parent (a sequential scan per statement) than probe its key.
  // pg_stat_xact_user_tables counts this transaction's scans; the transaction is rolled back.
  // About a posting batch: the size the plan is first made for decides it, and stays cached.
  const ROWS = 150;

  async function scansIn(run: (tx: Sql) => Promise<void>, tables: string[]) {
    const own = createSql(testConfig().DATABASE_URL, { max: 1, applicationName: "payments-test-plans" });
    try {
      let scans: { relname: string; seq_scan: number; idx_scan: number }[] = [];
      await own
        .begin(async (tx) => {
          await run(tx as unknown as Sql);
          scans = await tx`
            select relname::text, seq_scan::int, coalesce(idx_scan, 0)::int as idx_scan
              from pg_stat_xact_user_tables where relname = any(${tables}::text[]) order by relname`;
          throw new Rollback();
        })
        .catch((err: unknown) => {
          if (!(err instanceof Rollback)) throw err;
        });
      return Object.fromEntries(scans.map((s) => [s.relname, s]));
    } finally {
      await own.end({ timeout: 5 });
    }
  }
  class Rollback extends Error {}
  const unique = () => randomUUID().replaceAll("-", "");

  it("payments -> accounts and users, transactions -> payments: no parent is read whole", async () => {
    const a = await openFundedAccount(sql, "USD", 0n);
    const b = await openFundedAccount(sql, "USD", 0n);
    const scans = await scansIn(
      async (tx) => {
        // Thousands of payments, known to the planner; the users and accounts stay few (a young
        // system), where the planner would read them whole per probe.
        await tx`
          insert into payments (id, type, from_account, to_account, amount, currency, created_by, status)
          select 'pay_plan' || g || ${unique()}, 'transfer', ${a.account_number}, ${b.account_number}, 1, 'USD',
                 ${a.owner_id}, 'failed'
            from generate_series(1, 5000) g`;
        await tx`analyze payments, accounts, users, transactions`;
        const base = await tx<{ n: number }[]>`
          select seq_scan::int as n from pg_stat_xact_user_tables where relname = 'payments'`;
        expect(base[0]?.n ?? 0).toBe(0);
        const tag = unique();
        await tx`
          insert into payments (id, type, from_account, to_account, amount, currency, created_by)
          select 'pay_new' || g || ${tag}, 'transfer', ${a.account_number}, ${b.account_number}, 1, 'USD', ${a.owner_id}
            from generate_series(1, ${ROWS}) g`;
        await tx`
          insert into transactions (id, kind, reference, payment_id)
          select 'tx_new' || g || ${tag}, 'test', 'plan:' || g || ${tag}, 'pay_new' || g || ${tag}
            from generate_series(1, ${ROWS}) g`;
      },
      ["payments", "accounts", "users"],
    );
    expect(scans.payments?.seq_scan).toBe(0);
    expect(scans.payments?.idx_scan).toBeGreaterThanOrEqual(ROWS);
    expect(scans.accounts?.seq_scan).toBe(0);
    expect(scans.users?.seq_scan).toBe(0);
  });

  it("ledger entries -> transactions: a batch's entries probe their transactions by key", async () => {
    const a = await openFundedAccount(sql, "USD", 10_000n);
    const b = await openFundedAccount(sql, "USD", 0n);
    const scans = await scansIn(
      async (tx) => {
        await tx`
          insert into transactions (id, kind, reference)
          select 'tx_plan' || g || ${unique()}, 'test', 'plan:' || g || ${unique()}
            from generate_series(1, 5000) g`;
        await tx`analyze transactions`;
        const results = await postBatch(
          tx as never,
          Array.from({ length: ROWS / 2 }, () => transfer(a.account_number, b.account_number, 1n)),
        );
        expect(results.every((r) => r.ok)).toBe(true);
      },
      ["transactions"],
    );
    expect(scans.transactions?.seq_scan).toBe(0);
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
