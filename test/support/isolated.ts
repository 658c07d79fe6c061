import { type ChildProcess, spawn } from "node:child_process";
import postgres from "postgres";
import { afterAll } from "vitest";
import { createSql, ensureDatabase } from "../../shared/db/index.ts";
import { migrate } from "../../shared/db/migrate.ts";
import { testConfig } from "./db.ts";

/**
 * A database and queue namespace of this test file's own, for tests where no other file's workers
 * (or reconcilers) may touch the work: crash and recovery tests.
 */
export async function isolatedEnv(name: string, redisDb = 0): Promise<Record<string, string>> {
  const base = new URL(testConfig().DATABASE_URL);
  const url = new URL(base);
  url.pathname = `${base.pathname}_${name}`;
  const adminUrl = new URL(base);
  adminUrl.pathname = "/postgres";
  const admin = postgres(adminUrl.toString(), { max: 1, onnotice: () => {} });
  await admin`drop database if exists ${admin(url.pathname.slice(1))} with (force)`;
  await admin.end();
  await ensureDatabase(url.toString());
  const sql = createSql(url.toString(), { max: 1 });
  await migrate(sql);
  await sql.end();
  const redis = new URL(testConfig().REDIS_URL);
  redis.pathname = `/${redisDb}`;
  return {
    DATABASE_URL: url.toString(),
    REDIS_URL: redis.toString(),
    QUEUE_PREFIX: `${testConfig().QUEUE_PREFIX}-${name}`,
  };
}

/** Starts `npm run start:worker` as a real child process with the given environment. */
export function spawnWorker(env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ["--import", "tsx", "worker/main.ts"], {
    env: { ...process.env, ...env, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent" },
    stdio: ["ignore", "inherit", "inherit"],
  });
  afterAll(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  return child;
}

export function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once("exit", (code) => resolve(code));
  });
}
