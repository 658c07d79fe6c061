import type { Config } from "./config.ts";
import type { Services } from "./context.ts";
import { createSql } from "./db/index.ts";
import { createQueues } from "./jobs.ts";
import { createLogger } from "./logger.ts";
import { createMetrics } from "./metrics.ts";
import { prepareDatabase } from "./prepare.ts";
import { createRedis, waitForRedis } from "./redis.ts";

export interface BootOptions {
  /**
   * Create the database, apply pending migrations and create the admin first (default). The
   * children of npm start skip it: their supervisor did it once before forking them.
   */
  prepare?: boolean;
}

/**
 * What every process does first: prepare the database (under the migration advisory lock, so any
 * number of processes may start at once), then build the services.
 */
export async function boot(config: Config, name: string, opts: BootOptions = {}): Promise<Services> {
  const log = createLogger(config.LOG_LEVEL).child({ process: name });
  if (config.JWT_SECRET_GENERATED) {
    log.warn("JWT_SECRET is not set: using a random secret for this process (tokens end at restart)");
  }
  if (opts.prepare ?? true) await prepareDatabase(config, log);
  const sql = createSql(config.DATABASE_URL, {
    max: config.DATABASE_POOL_SIZE,
    applicationName: `payments-${name}`,
  });
  const redis = createRedis(config.REDIS_URL, "producer", { cluster: config.REDIS_CLUSTER });
  redis.on("error", (err) => log.warn({ err: err.message }, "redis connection error"));
  await waitForRedis(redis, () => log.info("waiting for redis"));
  const queues = createQueues(config, redis);
  for (const q of queues.all())
    q.on("error", (err) => log.warn({ err: err.message, queue: q.name }, "queue error"));
  return { config, sql, redis, queues, log, metrics: createMetrics() };
}

/** Closes what boot opened, queues before the database. */
export async function shutdownServices(services: Services): Promise<void> {
  await services.queues.close().catch(() => {});
  services.redis.disconnect();
  await services.sql.end({ timeout: 10 });
}
