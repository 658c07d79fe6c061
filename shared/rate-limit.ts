import type { Redis } from "ioredis";
import type { Config } from "./config.ts";
import type { Principal } from "./context.ts";
import type { Logger } from "./logger.ts";

/**
 * Rate limits: one token bucket per (subject, kind) in Redis, shared by every API process and
 * replica. A bucket holds up to `rate` tokens (burst = rate) and refills continuously at `rate`
 * tokens a second; each request takes one or is refused. Taking is one Lua script call, atomic,
 * timed by the Redis server's clock, so the clocks of the API processes never matter.
 */

export type RateLimitKind = "writes" | "reads";

/** What one take from a bucket decided. */
export interface RateLimitDecision {
  kind: RateLimitKind;
  /** Tokens a second, which is also the bucket's size. */
  rate: number;
  allowed: boolean;
  /** Whole tokens left after this request. */
  remaining: number;
  /** Milliseconds until the bucket holds one more whole token (for a refused request: may retry). */
  nextTokenMs: number;
}

/** Safe methods read; everything else writes. */
export function kindOf(method: string): RateLimitKind {
  return method === "GET" || method === "HEAD" || method === "OPTIONS" ? "reads" : "writes";
}

/** A bucket per API key, else per user: a merchant's key and its owner's own sessions are limited apart. */
export function principalSubject(p: Principal): string {
  return p.apiKeyId ? `key:${p.apiKeyId}` : `user:${p.userId}`;
}

export function addressSubject(address: string): string {
  return `addr:${address}`;
}

/**
 * KEYS[1]: the bucket. ARGV[1]: tokens a second. ARGV[2]: the bucket's size.
 * Returns {allowed (0/1), whole tokens left, microseconds until the next whole token}.
 *
 * The bucket is stored as one number: the Redis time (µs) at which it is full again. What it lacks
 * (`debt`, in µs of refill) is then `full_at - now`; no key means full. Taking a token adds one
 * interval of debt; a take that would push the debt past the bucket's size is refused and writes
 * nothing. The key expires when the bucket is full again, which is exactly when it stops mattering.
 * SLACK (1 µs) absorbs float rounding of the stored time, so a rate like 3/s still allows 3.
 */
const TAKE_SCRIPT = `
local interval = 1000000 / tonumber(ARGV[1])
local capacity = tonumber(ARGV[2]) * interval
local slack = 1
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local full_at = tonumber(redis.call('GET', KEYS[1]) or now)
local debt = math.min(math.max(full_at - now, 0), capacity)
local allowed = 0
if debt + interval <= capacity + slack then
  allowed = 1
  debt = debt + interval
  redis.call('SET', KEYS[1], string.format('%.17g', now + debt), 'PX', math.max(1, math.ceil(debt / 1000)))
end
local remaining = math.floor((capacity + slack - debt) / interval)
local next_token = debt - (capacity + slack - (remaining + 1) * interval)
return { allowed, remaining, math.max(0, math.ceil(next_token)) }
`;

type TakeCommand = (key: string, rate: number, size: number) => Promise<[number, number, number]>;

/** How often, at most, a Redis failure is logged (every request meets it while Redis is down). */
const WARN_EVERY_MS = 5000;

export class RateLimiter {
  private readonly take: TakeCommand;
  private lastWarnAt = Number.NEGATIVE_INFINITY;

  /** `redis`: the producer connection, one server or a cluster (the script touches a single key). */
  constructor(
    redis: Pick<Redis, "defineCommand">,
    private readonly config: Pick<
      Config,
      "RATE_LIMIT_WRITES_PER_SECOND" | "RATE_LIMIT_READS_PER_SECOND" | "QUEUE_PREFIX"
    >,
    private readonly log: Logger,
  ) {
    redis.defineCommand("rateLimitTake", { numberOfKeys: 1, lua: TAKE_SCRIPT });
    const command = (redis as unknown as { rateLimitTake: TakeCommand }).rateLimitTake;
    this.take = command.bind(redis);
  }

  /** Tokens a second for this kind; 0: not limited. */
  rate(kind: RateLimitKind): number {
    return kind === "writes"
      ? this.config.RATE_LIMIT_WRITES_PER_SECOND
      : this.config.RATE_LIMIT_READS_PER_SECOND;
  }

  /**
   * Takes a token from the subject's bucket of this kind. null when the kind is not limited, or when
   * Redis cannot be asked: then the request goes through (failing open), and a warning is logged
   * at most every few seconds.
   */
  async consume(subject: string, kind: RateLimitKind): Promise<RateLimitDecision | null> {
    const rate = this.rate(kind);
    if (rate <= 0) return null;
    // The hash tag is the subject: a subject's two buckets share a cluster slot, subjects spread out.
    const key = `{${this.config.QUEUE_PREFIX}:ratelimit:${subject}}:${kind}`;
    try {
      const [allowed, remaining, nextTokenUs] = await this.take(key, rate, rate);
      return { kind, rate, allowed: allowed === 1, remaining, nextTokenMs: nextTokenUs / 1000 };
    } catch (err) {
      const now = Date.now();
      if (now - this.lastWarnAt >= WARN_EVERY_MS) {
        this.lastWarnAt = now;
        this.log.warn({ err }, "rate limiter cannot reach Redis; requests go through unlimited");
      }
      return null;
    }
  }
}
