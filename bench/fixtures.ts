/**
 * The bench's database: a fresh scratch database per scenario, and its accounts: funded payer
 * wallets (customers, each with an access token) and unfunded payee wallets (merchants), written in
 * bulk, with one deposit ledger transaction per payer posted in a single database transaction.
 */
import { Redis } from "ioredis";
import postgres from "postgres";
import { signAccessToken } from "../shared/auth/tokens.ts";
import type { Config } from "../shared/config.ts";
import type { Sql } from "../shared/db/index.ts";
import { newAccountNumber, newId } from "../shared/ids.ts";
import { ensureSystemAccounts, postBatch, systemAccountNumber } from "../shared/ledger/index.ts";

/** Every payer starts with 1,000,000.00 USD: no payment is ever declined for funds. */
const FUNDING_MINOR = 100_000_000n;

/** The Postgres server the benchmarks use (BENCH_DATABASE_URL or DATABASE_URL; its database name is ignored). */
export function benchServerUrl(): string {
  const url = new URL(
    process.env.BENCH_DATABASE_URL || process.env.DATABASE_URL || "postgres://postgres@127.0.0.1:5432",
  );
  url.pathname = "/";
  return url.toString();
}

/** The server part of a Postgres URL with another database name. */
export function databaseUrl(server: string, database: string): string {
  const url = new URL(server);
  url.pathname = `/${database}`;
  return url.toString();
}

async function onMaintenanceDb<T>(server: string, fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(databaseUrl(server, "postgres"), { max: 1, onnotice: () => {} });
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Drops the database (closing its connections) and creates it empty; the app migrates it. */
export async function recreateDatabase(server: string, database: string): Promise<void> {
  await onMaintenanceDb(server, async (sql) => {
    await sql`drop database if exists ${sql(database)} with (force)`;
    await sql`create database ${sql(database)}`;
  });
}

/** Drops the database, closing its connections (a benchmark's scratch database, afterwards). */
export async function dropDatabase(server: string, database: string): Promise<void> {
  await onMaintenanceDb(server, (sql) => sql`drop database if exists ${sql(database)} with (force)`);
}

/** Removes a run's queue keys from Redis (its prefix is used by no one else). */
export async function deleteQueueKeys(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      if (keys.length > 0) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== "0");
  } catch (err) {
    console.error(`bench: could not delete the Redis keys under ${prefix}: ${(err as Error).message}`);
  } finally {
    redis.disconnect();
  }
}

export async function checkpoint(server: string): Promise<void> {
  await onMaintenanceDb(server, (sql) => sql`checkpoint`);
}

export interface Payer {
  account: string;
  token: string;
}

export interface Parties {
  payers: Payer[];
  /** Merchant wallets; the hot scenario uses the first. */
  payees: string[];
}

async function insertWallets(
  sql: Sql,
  count: number,
  role: "customer" | "merchant",
): Promise<{ userId: string; account: string }[]> {
  const rows = Array.from({ length: count }, () => {
    const userId = newId("usr");
    return { userId, account: newAccountNumber() };
  });
  if (count === 0) return rows;
  const users = rows.map((r) => ({
    id: r.userId,
    email: `${r.userId.toLowerCase()}@bench.test`,
    password_hash: "x",
    role,
  }));
  const accounts = rows.map((r) => ({
    account_number: r.account,
    owner_id: r.userId,
    currency: "USD",
    kind: "user",
  }));
  await sql`insert into users ${sql(users, "id", "email", "password_hash", "role")}`;
  await sql`insert into accounts ${sql(accounts, "account_number", "owner_id", "currency", "kind")}`;
  return rows;
}

export async function createParties(
  sql: Sql,
  config: Config,
  opts: { payers: number; payees: number },
): Promise<Parties> {
  await ensureSystemAccounts(sql, "USD");
  const payers = await insertWallets(sql, opts.payers, "customer");
  const payees = await insertWallets(sql, opts.payees, "merchant");
  const external = systemAccountNumber("external", "USD");
  const results = await sql.begin((tx) =>
    postBatch(
      tx,
      payers.map((p) => ({
        kind: "deposit",
        reference: `bench-fund:${p.account}`,
        legs: [
          { account: external, direction: "DEBIT" as const, amount: FUNDING_MINOR },
          { account: p.account, direction: "CREDIT" as const, amount: FUNDING_MINOR },
        ],
      })),
    ),
  );
  const refused = results.find((r) => !r.ok);
  if (refused && !refused.ok) throw new Error(`funding failed: ${refused.code} ${refused.message}`);
  return {
    payers: await Promise.all(
      payers.map(async (p) => ({
        account: p.account,
        token: await signAccessToken(config, { userId: p.userId, role: "customer" }),
      })),
    ),
    payees: payees.map((p) => p.account),
  };
}
