import { randomBytes } from "node:crypto";
import { availableParallelism } from "node:os";
import { z } from "zod";
import { parseRedisUrl, type RedisTarget } from "./redis-url.ts";

/**
 * The whole configuration, parsed once at boot from the environment. Nothing else reads
 * process.env: entry points call loadConfig() and pass the result down.
 */

const bool = z
  .enum(["true", "false", "1", "0"])
  .transform((v) => v === "true" || v === "1")
  .default(false);

const positiveInt = z.coerce.number().int().positive();

function redisTargetOrNull(url: string): RedisTarget | null {
  try {
    return parseRedisUrl(url);
  } catch {
    return null; // reported by REDIS_URL's own check
  }
}

const DEFAULT_WEBHOOK_SCHEDULE = "5,300,1800,7200,18000,36000,50400,72000,86400";

const schema = z
  .object({
    NODE_ENV: z.enum(["development", "test", "production"]).default("development"),
    PORT: z.coerce.number().int().min(0).max(65535).default(8000),
    /**
     * npm start: API processes sharing PORT. Default: one per core but the one the primary's
     * workers use (measured fastest on 2 cores: README, Performance).
     */
    API_PROCESSES: z.coerce
      .number()
      .int()
      .min(1)
      .max(64)
      .default(Math.max(1, availableParallelism() - 1)),
    /** npm start: worker processes (BullMQ workers and periodic duties), the primary first; 0 when they run elsewhere. */
    WORKER_PROCESSES: z.coerce.number().int().min(0).max(64).default(1),
    DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL")
      .default("postgres://postgres@127.0.0.1:5432/payments"),
    DATABASE_POOL_SIZE: positiveInt.default(20),
    /** One redis:// URL; with REDIS_CLUSTER, one or more seed URLs separated by commas (shared/redis-url.ts). */
    REDIS_URL: z
      .string()
      .default("redis://127.0.0.1:6379")
      .superRefine((v, ctx) => {
        try {
          parseRedisUrl(v);
        } catch (err) {
          ctx.addIssue({ code: "custom", message: (err as Error).message });
        }
      }),
    /** Redis Cluster: every Redis client (API, workers, dashboard) is a cluster client seeded from REDIS_URL. */
    REDIS_CLUSTER: bool,
    /** Namespaces every queue name, so several deployments (or test runs) can share one Redis. */
    QUEUE_PREFIX: z
      .string()
      .regex(/^[a-zA-Z0-9_-]{1,40}$/)
      .default("payments"),
    JWT_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
    JWT_ISSUER: z.string().default("payments-api"),
    JWT_AUDIENCE: z.string().default("payments-api"),
    ACCESS_TOKEN_TTL_SECONDS: positiveInt.default(900),
    REFRESH_TOKEN_TTL_SECONDS: positiveInt.default(30 * 24 * 3600),
    BCRYPT_COST: z.coerce.number().int().min(4).max(15).default(12),
    ADMIN_EMAIL: z.email().optional(),
    ADMIN_PASSWORD: z.string().min(8).max(128).optional(),
    LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    IDEMPOTENCY_TTL_HOURS: positiveInt.default(24),
    HOLD_TTL_SECONDS: positiveInt.default(7 * 24 * 3600),
    /**
     * Posting queues; an account's debits always land in the same one. One is fastest on a small
     * machine (partitions meet on shared payee rows anyway); raise it with more worker processes.
     */
    POSTING_PARTITIONS: z.coerce.number().int().min(1).max(256).default(1),
    POSTING_BATCH_SIZE: z.coerce.number().int().min(1).max(1000).default(200),
    /** How long a posting job waits before draining, so that more work shares its batch. */
    POSTING_LINGER_MS: z.coerce.number().int().min(0).max(1000).default(40),
    /**
     * Group commit of acceptances: how long the first request of a group waits for others while
     * the process is busy (other requests in flight, or a group committing); an idle process
     * commits a lone request at the end of the event-loop turn. 0: never wait.
     */
    ACCEPT_GROUP_WINDOW_MS: z.coerce.number().int().min(0).max(50).default(5),
    /** The most requests one acceptance transaction carries. */
    ACCEPT_GROUP_MAX_SIZE: z.coerce.number().int().min(1).max(1000).default(200),
    /** Acceptance transactions one process runs at once; more requests wait to form the next group. */
    ACCEPT_GROUP_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(2),
    RECONCILE_INTERVAL_MS: positiveInt.default(5000),
    /** Accepted work older than this with nothing queued for it is re-enqueued by the reconciler. */
    RECONCILE_GRACE_MS: positiveInt.default(5000),
    LOGIN_MAX_ATTEMPTS: positiveInt.default(10),
    /** Proxies in front of the API that append to X-Forwarded-For (0: use the TCP peer address). */
    TRUST_PROXY_HOPS: z.coerce.number().int().min(0).max(10).default(0),
    LOGIN_WINDOW_SECONDS: positiveInt.default(900),
    /**
     * Token buckets under /api/v1, per principal (per client address when unauthenticated), kept
     * in Redis: requests per second, burst the same; 0 turns that limit off.
     */
    RATE_LIMIT_WRITES_PER_SECOND: z.coerce.number().int().min(0).max(100_000).default(100),
    RATE_LIMIT_READS_PER_SECOND: z.coerce.number().int().min(0).max(100_000).default(100),
    /** When set, GET /metrics requires `Authorization: Bearer <token>`; unset, it is open (private networks only). */
    METRICS_TOKEN: z.string().min(16, "must be at least 16 characters").optional(),
    /** The Postgres-backed gauges of /metrics (backlog, set-aside, webhooks) are re-read at most this often. */
    METRICS_SAMPLE_MS: z.coerce.number().int().min(0).max(600_000).default(5000),
    WEBHOOK_ALLOW_PRIVATE_TARGETS: bool,
    WEBHOOK_TIMEOUT_MS: positiveInt.default(15000),
    WEBHOOK_RETRY_SCHEDULE: z
      .string()
      .default(DEFAULT_WEBHOOK_SCHEDULE)
      .transform((s, ctx) => {
        const parts = s.split(",").map((p) => p.trim());
        const secs = parts.map(Number);
        if (parts.length === 0 || secs.some((n, i) => parts[i] === "" || !Number.isFinite(n) || n < 0)) {
          ctx.addIssue({ code: "custom", message: "must be comma-separated non-negative seconds" });
          return z.NEVER;
        }
        return secs;
      }),
  })
  .superRefine((c, ctx) => {
    if (c.NODE_ENV === "production" && !c.JWT_SECRET) {
      ctx.addIssue({ code: "custom", path: ["JWT_SECRET"], message: "is required when NODE_ENV=production" });
    }
    const redis = redisTargetOrNull(c.REDIS_URL);
    if (redis && redis.seeds.length > 1 && !c.REDIS_CLUSTER) {
      ctx.addIssue({
        code: "custom",
        path: ["REDIS_URL"],
        message: `lists ${redis.seeds.length} seeds, which only a cluster has: set REDIS_CLUSTER=true`,
      });
    }
    if (redis && c.REDIS_CLUSTER && redis.db !== 0) {
      ctx.addIssue({
        code: "custom",
        path: ["REDIS_URL"],
        message: `names database ${redis.db}, but a Redis Cluster has only database 0`,
      });
    }
    if (Boolean(c.ADMIN_EMAIL) !== Boolean(c.ADMIN_PASSWORD)) {
      ctx.addIssue({
        code: "custom",
        path: ["ADMIN_PASSWORD"],
        message: "ADMIN_EMAIL and ADMIN_PASSWORD go together",
      });
    }
  });

export type Config = Omit<z.infer<typeof schema>, "JWT_SECRET"> & {
  JWT_SECRET: string;
  /** True when JWT_SECRET was not set and a random one was made for this process. */
  JWT_SECRET_GENERATED: boolean;
};

export class ConfigError extends Error {
  override name = "ConfigError";
}

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
 * Without JWT_SECRET (allowed outside production), a random secret made once per process: nobody
 * can forge tokens with a secret written in the source. Tokens then last until a restart, and
 * separately started API processes need a shared JWT_SECRET (npm start hands the supervisor's own
 * to its children).
 */
const PROCESS_JWT_SECRET = randomBytes(32).toString("base64url");

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // Empty strings mean "unset", as in most .env files.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join(".") || "config"} ${i.message}`);
    throw new ConfigError(`Invalid configuration: ${lines.join("; ")}`);
  }
  return {
    ...parsed.data,
    JWT_SECRET: parsed.data.JWT_SECRET ?? PROCESS_JWT_SECRET,
    JWT_SECRET_GENERATED: parsed.data.JWT_SECRET === undefined,
  };
}
