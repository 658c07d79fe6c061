import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import type { Principal, Services } from "../../shared/context.ts";
import { RateLimitedError } from "../../shared/errors.ts";
import {
  addressSubject,
  kindOf,
  principalSubject,
  type RateLimitDecision,
  RateLimiter,
} from "../../shared/rate-limit.ts";
import { clientAddress } from "../client-address.ts";
import type { AppEnv } from "../env.ts";

/**
 * Rate limits under /api/v1 (shared/rate-limit.ts has the buckets). An authenticated route takes
 * from its principal's bucket in requireAuth, right after authenticating; every other /api/v1
 * request (login, register, refresh, logout, unknown paths), and every request failing
 * authentication, takes from its client address's. Both run before validation and the handler, so
 * a refused request leaves nothing behind (its idempotency key stays unused).
 */

/** One limiter per set of services, made on first use: with both limits at 0 none is ever made. */
const limiters = new WeakMap<Services, RateLimiter>();

function limiterOf(services: Services): RateLimiter {
  let limiter = limiters.get(services);
  if (!limiter) {
    limiter = new RateLimiter(services.redis, services.config, services.log);
    limiters.set(services, limiter);
  }
  return limiter;
}

/** Whether this request's kind is limited at all; checked first, so a limit of 0 costs nothing. */
export function isRateLimited(c: Context<AppEnv>): boolean {
  const { config } = c.get("services");
  return kindOf(c.req.method) === "writes"
    ? config.RATE_LIMIT_WRITES_PER_SECOND > 0
    : config.RATE_LIMIT_READS_PER_SECOND > 0;
}

/** The IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers): policy `q` a second, and the bucket now. */
function rateLimitHeaders(d: RateLimitDecision): Record<string, string> {
  // t: the seconds within which no more than `r` requests can pass, i.e. until the next token.
  const seconds = Math.max(1, Math.ceil(d.nextTokenMs / 1000));
  return {
    "RateLimit-Policy": `"${d.kind}";q=${d.rate};w=1`,
    RateLimit: `"${d.kind}";r=${d.remaining};t=${seconds}`,
  };
}

/** Takes a token for this request from the subject's bucket: 429 when empty, else the headers go on the response. */
async function take(c: Context<AppEnv>, subject: string): Promise<void> {
  if (!isRateLimited(c)) return;
  const services = c.get("services");
  const decision = await limiterOf(services).consume(subject, kindOf(c.req.method));
  if (!decision) return; // Redis unreachable: fail open
  const headers = rateLimitHeaders(decision);
  if (!decision.allowed) throw new RateLimitedError(decision.nextTokenMs / 1000, headers);
  c.set("responseHeaders", { ...c.get("responseHeaders"), ...headers });
}

export function limitPrincipal(c: Context<AppEnv>, principal: Principal): Promise<void> {
  return take(c, principalSubject(principal));
}

export function limitClientAddress(c: Context<AppEnv>): Promise<void> {
  return take(c, addressSubject(clientAddress(c)));
}

/** The middlewares that limit by principal themselves (requireAuth's), so routes using them are skipped here. */
const byPrincipal = new WeakSet<object>();

export function limitsByPrincipal<T extends MiddlewareHandler<AppEnv>>(middleware: T): T {
  byPrincipal.add(middleware);
  return middleware;
}

/** For every /api/v1 request: routes without requireAuth (and unknown paths) are limited per client address. */
export const rateLimitUnauthenticated: MiddlewareHandler<AppEnv> = (c, next) => {
  if (!isRateLimited(c) || matchedRoutes(c).some((r) => byPrincipal.has(r.handler))) return next();
  return limitClientAddress(c).then(next);
};
