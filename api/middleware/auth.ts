import type { MiddlewareHandler } from "hono";
import { authenticate } from "../../shared/auth/authenticate.ts";
import type { Principal, Role } from "../../shared/context.ts";
import { ForbiddenError, UnauthorizedError } from "../../shared/errors.ts";
import type { AppEnv } from "../env.ts";
import { isRateLimited, limitClientAddress, limitPrincipal, limitsByPrincipal } from "./rate-limit.ts";

/**
 * Requires a valid bearer token; with roles given, also one of those roles. Then takes from the
 * principal's rate limit bucket; a request failing authentication takes from its client address's
 * instead, so guessing credentials is limited too.
 */
export function requireAuth(...roles: Role[]): MiddlewareHandler<AppEnv> {
  return limitsByPrincipal(async (c, next) => {
    let principal: Principal;
    try {
      principal = await authenticate(c.get("services"), c.req.header("authorization"));
    } catch (err) {
      if (err instanceof UnauthorizedError && isRateLimited(c)) await limitClientAddress(c);
      throw err;
    }
    if (isRateLimited(c)) await limitPrincipal(c, principal);
    if (roles.length > 0 && !roles.includes(principal.role)) throw new ForbiddenError();
    c.set("principal", principal);
    c.set("log", c.get("log").child({ user_id: principal.userId }));
    await next();
  });
}
