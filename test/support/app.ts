import { afterAll } from "vitest";
import { createApp } from "../../api/app.ts";
import type { App } from "../../api/env.ts";
import { signAccessToken } from "../../shared/auth/tokens.ts";
import type { Config } from "../../shared/config.ts";
import type { Role, Services } from "../../shared/context.ts";
import { createSql } from "../../shared/db/index.ts";
import { newId } from "../../shared/ids.ts";
import { createQueues } from "../../shared/jobs.ts";
import { type AccountRow, openAccount, post, systemAccountNumber } from "../../shared/ledger/index.ts";
import { createLogger } from "../../shared/logger.ts";
import { createMetrics } from "../../shared/metrics.ts";
import { createRedis, waitForRedis } from "../../shared/redis.ts";
import { testConfig } from "./db.ts";

/** Real services (Postgres, Redis, queues) for this test file, closed after it. */
export async function makeServices(overrides: Record<string, string> = {}): Promise<Services> {
  const config: Config = testConfig(overrides);
  const sql = createSql(config.DATABASE_URL, { max: 10, applicationName: "payments-test" });
  const redis = createRedis(config.REDIS_URL, "producer", { cluster: config.REDIS_CLUSTER });
  redis.on("error", () => {});
  await waitForRedis(redis, () => {});
  const queues = createQueues(config, redis);
  const log = createLogger(config.LOG_LEVEL);
  return { config, sql, redis, queues, log, metrics: createMetrics() };
}

export async function closeServices(s: Services): Promise<void> {
  await s.queues.close().catch(() => {});
  s.redis.disconnect();
  await s.sql.end({ timeout: 5 });
}

export interface TestApp {
  app: App;
  services: Services;
  /** JSON request helper: `body` is serialized, `token` becomes a bearer header. */
  request(
    method: string,
    path: string,
    opts?: { token?: string; body?: unknown; headers?: Record<string, string>; rawBody?: string },
  ): Promise<{ status: number; body: any; headers: Headers }>;
}

export async function useApp(overrides: Record<string, string> = {}): Promise<TestApp> {
  const services = await makeServices(overrides);
  afterAll(() => closeServices(services));
  const app = createApp(services);
  return {
    app,
    services,
    async request(method, path, opts = {}) {
      const headers: Record<string, string> = { ...(opts.headers ?? {}) };
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      let body: string | undefined = opts.rawBody;
      if (opts.body !== undefined) {
        body = JSON.stringify(opts.body);
        headers["content-type"] ??= "application/json";
      }
      const res = await app.request(path, { method, headers, body });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        // not JSON (e.g. HTML docs page): keep the text
      }
      return { status: res.status, body: parsed, headers: res.headers };
    },
  };
}

export interface TestUser {
  id: string;
  email: string;
  role: Role;
  token: string;
  account: AccountRow;
}

/** A user straight in the database with a wallet (optionally funded) and a signed access token. */
export async function makeUser(
  services: Services,
  opts: { role?: Role; currency?: string; balance?: bigint } = {},
): Promise<TestUser> {
  const role = opts.role ?? "customer";
  const currency = opts.currency ?? "USD";
  const id = newId("usr");
  const email = `${id.toLowerCase()}@example.test`;
  await services.sql`insert into users (id, email, password_hash, role) values (${id}, ${email}, 'x', ${role})`;
  const account = await openAccount(services.sql, { ownerId: id, currency });
  if (opts.balance && opts.balance > 0n) await fund(services, account.account_number, currency, opts.balance);
  const token = await signAccessToken(services.config, { userId: id, role });
  return { id, email, role, token, account };
}

/** Credits an account from the external funding account, as a deposit would. */
export async function fund(
  services: Services,
  accountNumber: string,
  currency: string,
  amount: bigint,
): Promise<void> {
  await services.sql.begin((tx) =>
    post(tx, {
      kind: "deposit",
      reference: `test-fund:${newId("op")}`,
      legs: [
        { account: systemAccountNumber("external", currency), direction: "DEBIT", amount },
        { account: accountNumber, direction: "CREDIT", amount },
      ],
    }),
  );
}
