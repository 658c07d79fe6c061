import postgres from "postgres";

/** The one postgres.js client type used everywhere; a transaction (`sql.begin`) is the same shape. */
export type Sql = postgres.Sql<{ bigint: bigint }>;
export type Tx = postgres.TransactionSql<{ bigint: bigint }>;
/** Anything a query function can run on: the pool or a transaction. */
export type Db = Sql | Tx;

export interface DbOptions {
  max?: number;
  /** Name attached to every connection, shown in pg_stat_activity. */
  applicationName?: string;
}

export function createSql(url: string, opts: DbOptions = {}): Sql {
  return postgres(url, {
    max: opts.max ?? 10,
    // int8 / numeric sums come back as bigint, never as a lossy number.
    types: { bigint: postgres.BigInt },
    onnotice: () => {},
    connect_timeout: 10,
    idle_timeout: 30,
    connection: { application_name: opts.applicationName ?? "payments" },
  }) as unknown as Sql;
}

/** Creates the database named in `url` when it does not exist (connecting to `postgres` to do so). */
export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ""));
  if (!name) throw new Error("DATABASE_URL names no database");
  const admin = new URL(url);
  admin.pathname = "/postgres";
  const sql = postgres(admin.toString(), { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    const [row] = await sql`select 1 as found from pg_database where datname = ${name}`;
    if (!row) {
      try {
        await sql`create database ${sql(name)}`;
      } catch (err) {
        // Another process created it between our check and create: fine.
        if ((err as { code?: string }).code !== "42P04") throw err;
      }
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Error codes of the network or of a server that is busy, starting, failing over or shutting down. */
const TRANSIENT_CODES = new Set([
  "40001", // serialization_failure
  "40P01", // deadlock_detected
  "55P03", // lock_not_available
  "57014", // query_canceled (statement timeout)
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now (starting up)
  "25006", // read_only_sql_transaction (after a failover)
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "EAI_AGAIN",
]);

/** True when a Postgres error is worth retrying (connection trouble, contention, resources). */
export function isTransientDbError(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  if (!code) return false;
  return TRANSIENT_CODES.has(code) || code.startsWith("08") || code.startsWith("53");
}

/**
 * True when an error says the database cannot be used right now (unreachable, restarting, failing
 * over, out of connections, or too contended to finish): the same request may pass in a moment, so
 * the API answers 503 with Retry-After, never 500.
 */
export const isDatabaseUnavailable = isTransientDbError;

/**
 * True when doing the same thing again will fail the same way: an error our own code raised, or a
 * Postgres data, integrity or statement error (classes 22, 23, 42). Anything else may pass later.
 */
export function isDeterministicFailure(err: unknown): boolean {
  if (isTransientDbError(err)) return false;
  const code = (err as { code?: unknown } | null)?.code;
  if (code === undefined) return err instanceof Error;
  return typeof code === "string" && /^(22|23|42)[0-9A-Z]{3}$/.test(code);
}

/** True when Postgres answers within the timeout (readiness). */
export async function databaseAlive(sql: Sql, timeoutMs = 2000): Promise<boolean> {
  return Promise.race([
    sql`select 1`.then(() => true),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref()),
  ]).catch(() => false);
}
