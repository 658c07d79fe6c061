import { Redis } from "ioredis";
import postgres from "postgres";
import { loadConfig } from "../../shared/config.ts";
import { createSql, ensureDatabase } from "../../shared/db/index.ts";
import { migrate } from "../../shared/db/migrate.ts";

/** A fresh test database for each run, migrated once; test files then share it. */
export default async function setup(): Promise<() => Promise<void>> {
  const config = loadConfig();
  const url = new URL(config.DATABASE_URL);
  const name = url.pathname.slice(1);
  if (name === "postgres" || name === "payments") throw new Error(`refusing to run tests against ${name}`);
  const adminUrl = new URL(config.DATABASE_URL);
  adminUrl.pathname = "/postgres";
  const admin = postgres(adminUrl.toString(), { max: 1, onnotice: () => {} });
  await admin`drop database if exists ${admin(name)} with (force)`;
  await admin.end();
  await ensureDatabase(config.DATABASE_URL);
  const sql = createSql(config.DATABASE_URL, { max: 1 });
  await migrate(sql);
  await sql.end();
  // Teardown: drop this run's database and the isolated ones its tests made (`<name>_<suffix>`).
  return async () => {
    const admin = postgres(adminUrl.toString(), { max: 1, onnotice: () => {} });
    const rows = await admin<{ datname: string }[]>`
      select datname from pg_database where datname = ${name} or datname like ${`${name}_%`}`;
    for (const row of rows) await admin`drop database if exists ${admin(row.datname)} with (force)`;
    await admin.end();
    await dropQueueKeys(config.REDIS_URL, config.QUEUE_PREFIX);
  };
}

/**
 * This run's queue keys: every key under its QUEUE_PREFIX (the isolated namespaces extend it), in
 * every logical database a test may have used (isolatedEnv can pick another one).
 */
async function dropQueueKeys(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    for (let db = 0; db < 16; db++) {
      await redis.select(db);
      for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 1000 })) {
        if ((keys as string[]).length > 0) await redis.unlink(...(keys as string[]));
      }
    }
  } finally {
    redis.disconnect();
  }
}
