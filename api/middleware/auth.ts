import type { MiddlewareHandler } from "hono";
import { authenticate } from "../../shared/auth/authenticate.ts";
import type { Role } from "../../shared/context.ts";
import { ForbiddenError } from "../../shared/errors.ts";
import type { AppEnv } from "../env.ts";

/** Requires a valid bearer token; with roles given, also one of those roles. */
export function requireAuth(...roles: Role[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const principal = await authenticate(c.get("services"), c.req.header("authorization"));
    if (roles.length > 0 && !roles.includes(principal.role)) throw new ForbiddenError();
    c.set("principal", principal);
    c.set("log", c.get("log").child({ user_id: principal.userId }));
    await next();
  };
}
