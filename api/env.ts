import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { Ctx, Principal, Services } from "../shared/context.ts";
import type { Logger } from "../shared/logger.ts";

export interface AppEnv {
  Variables: {
    requestId: string;
    log: Logger;
    services: Services;
    principal: Principal;
    /** Headers the response carries whatever builds it (e.g. RateLimit); see api/request-id.ts. */
    responseHeaders: Record<string, string>;
  };
}

export type App = OpenAPIHono<AppEnv>;

/** The verb context for an authenticated request. */
export function ctxOf(c: Context<AppEnv>): Ctx {
  const principal = c.get("principal");
  if (!principal) throw new Error("route reached without authentication middleware");
  return { ...c.get("services"), principal, log: c.get("log"), requestId: c.get("requestId") };
}
