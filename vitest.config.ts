import { defineConfig } from "vitest/config";

// One database and one queue namespace per test run: runs never see each other's data or jobs.
const runId = `${Date.now().toString(36)}${process.pid.toString(36)}`;

const env = {
  NODE_ENV: "test",
  // Each run gets its own database (dropped at the end), so concurrent runs never collide.
  DATABASE_URL: process.env.TEST_DATABASE_URL ?? `postgres://postgres@127.0.0.1:5432/payments_test_${runId}`,
  REDIS_URL: process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379",
  QUEUE_PREFIX: `test-${runId}`,
  LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
  BCRYPT_COST: "4",
  WEBHOOK_ALLOW_PRIVATE_TARGETS: "false",
};
// The global setup runs in this process, and child processes spawned by tests inherit it too.
Object.assign(process.env, env);

export default defineConfig({
  test: {
    globalSetup: ["test/support/global-setup.ts"],
    env,
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    maxWorkers: 2,
  },
});
