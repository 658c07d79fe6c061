import { serveStatic } from "@hono/node-server/serve-static";
import { type Context, Hono } from "hono";
import type { Principal, Services } from "../../../shared/context.ts";
import { ForbiddenError, UnauthorizedError } from "../../../shared/errors.ts";
import type { App, AppEnv } from "../../env.ts";
import { problemResponse } from "../../problem.ts";
import { principalOf, sameOrigin } from "./dashboard-auth.ts";

const BASE = "/ops/queues";

/** ops read everything and may retry jobs; pausing, emptying, cleaning or adding is for admins. */
function allowed(principal: Principal, method: string, path: string): boolean {
  if (principal.role === "admin") return true;
  if (principal.role !== "ops") return false;
  return method === "GET" || method === "HEAD" || (method === "PUT" && /\/retry(\/[^/]+)?$/.test(path));
}

/** bull-board at /ops/queues for ops (read, retry) and admin (everything). */
export function registerQueueDashboard(app: App, services: Services): void {
  app.use(`${BASE}/*`, async (c, next) => {
    try {
      if (c.req.method !== "GET" && c.req.method !== "HEAD" && !sameOrigin(c)) {
        throw new ForbiddenError("cross_site_request", "Cross-site requests to the dashboard are refused.");
      }
      const principal = await principalOf(c, services);
      if (!allowed(principal, c.req.method, c.req.path)) throw new ForbiddenError();
    } catch (err) {
      if (err instanceof UnauthorizedError) {
        return problemResponse(c, {
          status: 401,
          code: err.code,
          detail: "Sign in as an ops or admin user.",
          headers: { "WWW-Authenticate": 'Basic realm="queues", charset="UTF-8"' },
        });
      }
      throw err;
    }
    await next();
    return undefined;
  });
  // The dashboard's own links point at the base with a trailing slash.
  app.get(`${BASE}/`, (c) => c.redirect(BASE));
  const board = lazyBoard(services);
  const serve = async (c: Context<AppEnv>) => {
    const res = await (await board()).fetch(c.req.raw, c.env);
    // Through the context, so headers set on the way (the session cookie) reach the browser.
    return c.newResponse(res.body, res.status as 200, Object.fromEntries(res.headers));
  };
  app.all(BASE, serve);
  app.all(`${BASE}/*`, serve);
}

/**
 * bull-board is loaded on the first dashboard request, not at boot: it weighs ~20 MiB of memory in
 * every API process, and most processes never serve the dashboard.
 */
function lazyBoard(services: Services): () => Promise<Hono> {
  let board: Promise<Hono> | null = null;
  return () => {
    board ??= (async () => {
      const [{ createBullBoard }, { BullMQAdapter }, { HonoAdapter }] = await Promise.all([
        import("@bull-board/api"),
        import("@bull-board/api/bullMQAdapter"),
        import("@bull-board/hono"),
      ]);
      const adapter = new HonoAdapter(serveStatic);
      createBullBoard({
        queues: services.queues.all().map((q) => new BullMQAdapter(q)),
        serverAdapter: adapter,
        options: { uiConfig: { boardTitle: "Payments queues" } },
      });
      adapter.setBasePath(BASE);
      return new Hono().route(BASE, adapter.registerPlugin());
    })();
    return board;
  };
}
