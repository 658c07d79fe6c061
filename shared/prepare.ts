import { ensureAdmin } from "./auth/admin.ts";
import type { Config } from "./config.ts";
import { createSql, ensureDatabase } from "./db/index.ts";
import { migrate } from "./db/migrate.ts";
import type { Logger } from "./logger.ts";

/**
 * What must be true before any process serves: the database exists, every migration is applied,
 * and the ADMIN_EMAIL admin exists. Idempotent and safe from several processes at once (migrations
 * under an advisory lock, the admin behind the unique email index). Light on imports on purpose:
 * the npm start supervisor runs it once, without loading the API or the queues.
 */
export async function prepareDatabase(config: Config, log: Logger): Promise<void> {
  await ensureDatabase(config.DATABASE_URL);
  const sql = createSql(config.DATABASE_URL, { max: 1, applicationName: "payments-prepare" });
  try {
    const applied = await migrate(sql);
    if (applied.length) log.info({ applied }, "migrations applied");
    await ensureAdmin({ config, sql, log });
  } finally {
    await sql.end({ timeout: 5 });
  }
}
