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

/** True when a Postgres error is worth retrying (connection trouble, serialization, deadlock). */
export function isTransientDbError(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  if (!code) return false;
  return (
    code === "40001" || // serialization_failure
    code === "40P01" || // deadlock_detected
    code === "55P03" || // lock_not_available
    code === "57P01" || // admin_shutdown
    code.startsWith("08") || // connection exceptions
    code === "CONNECTION_CLOSED" ||
    code === "CONNECTION_ENDED" ||
    code === "CONNECTION_DESTROYED" ||
    code === "CONNECT_TIMEOUT" ||
    code === "ECONNREFUSED" ||
    code === "ECONNRESET"
  );
}

/** True when Postgres answers within the timeout (readiness). */
export async function databaseAlive(sql: Sql, timeoutMs = 2000): Promise<boolean> {
  return Promise.race([
    sql`select 1`.then(() => true),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref()),
  ]).catch(() => false);
}
