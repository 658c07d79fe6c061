import { afterAll } from "vitest";
import { type Config, loadConfig } from "../../shared/config.ts";
import { createSql, type Sql } from "../../shared/db/index.ts";
import { newId } from "../../shared/ids.ts";
import {
  type AccountRow,
  openAccount,
  post,
  systemAccountNumber,
  verifyLedger,
} from "../../shared/ledger/index.ts";

export function testConfig(overrides: Record<string, string> = {}): Config {
  // Rate limits off unless a test turns them on: tests fire hundreds of requests per user at once.
  const limitsOff = { RATE_LIMIT_WRITES_PER_SECOND: "0", RATE_LIMIT_READS_PER_SECOND: "0" };
  return loadConfig({ ...limitsOff, ...process.env, ...overrides });
}

/** A pool for this test file, closed after it. */
export function useSql(max = 10): Sql {
  const sql = createSql(testConfig().DATABASE_URL, { max, applicationName: "payments-test" });
  afterAll(() => sql.end({ timeout: 5 }));
  return sql;
}

export async function insertUser(sql: Sql, role = "customer"): Promise<string> {
  const id = newId("usr");
  await sql`insert into users (id, email, password_hash, role) values (${id}, ${`${id}@example.test`}, 'x', ${role})`;
  return id;
}

export async function openFundedAccount(sql: Sql, currency: string, amount: bigint): Promise<AccountRow> {
  const owner = await insertUser(sql);
  const account = await openAccount(sql, { ownerId: owner, currency });
  if (amount > 0n) {
    await sql.begin((tx) =>
      post(tx, {
        kind: "deposit",
        reference: `test-deposit:${account.account_number}`,
        legs: [
          { account: systemAccountNumber("external", currency), direction: "DEBIT", amount },
          { account: account.account_number, direction: "CREDIT", amount },
        ],
      }),
    );
  }
  return account;
}

/** The ledger invariants every test ends with: balanced per currency, balances = entry sums. */
export async function expectLedgerHealthy(sql: Sql): Promise<void> {
  const check = await verifyLedger(sql);
  const unbalanced = check.trialBalance.filter((t) => t.net !== 0n);
  if (
    unbalanced.length ||
    check.mismatchedAccounts.length ||
    check.heldMismatch.length ||
    check.heldMovementMismatch.length
  ) {
    throw new Error(
      `ledger unhealthy: ${JSON.stringify(check, (_k, v) => (typeof v === "bigint" ? String(v) : v))}`,
    );
  }
}
