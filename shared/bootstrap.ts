import { ensureAdmin } from "./auth/admin.ts";
import { type Config, ConfigError, loadConfig } from "./config.ts";
import type { Services } from "./context.ts";
import { createSql, ensureDatabase } from "./db/index.ts";
import { migrate } from "./db/migrate.ts";
import { createQueues } from "./jobs.ts";
import { createLogger } from "./logger.ts";
import { createMetrics } from "./metrics.ts";
import { createRedis, waitForRedis } from "./redis.ts";

/** Reads the configuration or exits with one clear line (no stack trace) when it is invalid. */
export function configOrExit(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}

/**
 * What every entry point does first: create the database if missing, apply pending migrations
 * (under the advisory lock, so any number of processes may start at once), build the services.
 */
export async function boot(config: Config, name: string): Promise<Services> {
  const log = createLogger(config.LOG_LEVEL).child({ process: name });
  if (config.JWT_SECRET_GENERATED) {
    log.warn("JWT_SECRET is not set: using a random secret for this process (tokens end at restart)");
  }
  await ensureDatabase(config.DATABASE_URL);
  const sql = createSql(config.DATABASE_URL, {
    max: config.DATABASE_POOL_SIZE,
    applicationName: `payments-${name}`,
  });
  const applied = await migrate(sql);
  if (applied.length) log.info({ applied }, "migrations applied");
  const redis = createRedis(config.REDIS_URL, "producer");
  redis.on("error", (err) => log.warn({ err: err.message }, "redis connection error"));
  await waitForRedis(redis, () => log.info("waiting for redis"));
  const queues = createQueues(config, redis);
  for (const q of queues.all())
    q.on("error", (err) => log.warn({ err: err.message, queue: q.name }, "queue error"));
  const services: Services = { config, sql, redis, queues, log, metrics: createMetrics() };
  await ensureAdmin(services);
  return services;
}

/** Closes what boot opened, queues before the database. */
export async function shutdownServices(services: Services): Promise<void> {
  await services.queues.close().catch(() => {});
  services.redis.disconnect();
  await services.sql.end({ timeout: 10 });
}
