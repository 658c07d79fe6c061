import { loadConfig } from "../config.ts";
import { createLogger } from "../logger.ts";
import { createSql, ensureDatabase } from "./index.ts";
import { migrate } from "./migrate.ts";

const config = loadConfig();
const log = createLogger(config.LOG_LEVEL);
await ensureDatabase(config.DATABASE_URL);
const sql = createSql(config.DATABASE_URL, { max: 1, applicationName: "payments-migrate" });
try {
  const applied = await migrate(sql);
  log.info({ applied }, applied.length ? "migrations applied" : "database is up to date");
} finally {
  await sql.end({ timeout: 5 });
}
