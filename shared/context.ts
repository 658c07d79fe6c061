import type { Config } from "./config.ts";
import type { Sql } from "./db/index.ts";
import type { Queues } from "./jobs.ts";
import type { Logger } from "./logger.ts";
import type { Metrics } from "./metrics.ts";
import type { RedisClient } from "./redis.ts";

export type Role = "customer" | "merchant" | "ops" | "admin";
export const ROLES: readonly Role[] = ["customer", "merchant", "ops", "admin"];

/** The long-lived things a process builds once at boot and hands to the API and the workers. */
export interface Services {
  config: Config;
  sql: Sql;
  /** Producer connection: fails fast when Redis is down. */
  redis: RedisClient;
  queues: Queues;
  log: Logger;
  metrics: Metrics;
}

/** Who is calling: a user by access token, or a merchant's API key acting with its owner's role. */
export interface Principal {
  userId: string;
  role: Role;
  apiKeyId: string | null;
}

/** What a domain verb receives: the services plus the authenticated caller. */
export interface Ctx extends Services {
  principal: Principal;
  /** The API request's id (`x-request-id`), recorded in the audit log; absent outside a request. */
  requestId?: string;
}

/** ops and admin read everything. */
export function canReadAll(p: Principal): boolean {
  return p.role === "ops" || p.role === "admin";
}
