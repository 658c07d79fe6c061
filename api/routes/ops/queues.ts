import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { HonoAdapter } from "@bull-board/hono";
import { serveStatic } from "@hono/node-server/serve-static";
import { authenticate } from "../../../shared/auth/authenticate.ts";
import { authenticateBasic } from "../../../shared/auth/basic.ts";
import type { Services } from "../../../shared/context.ts";
import { ForbiddenError, UnauthorizedError } from "../../../shared/errors.ts";
import type { App } from "../../env.ts";
import { problemResponse } from "../../problem.ts";

const BASE = "/ops/queues";

/**
 * bull-board at /ops/queues for ops and admin. A browser signs in with HTTP Basic (email and
 * password of an ops/admin user); tools may send a bearer token instead.
 */
export function registerQueueDashboard(app: App, services: Services): void {
  app.use(`${BASE}/*`, async (c, next) => {
    const header = c.req.header("authorization");
    try {
      const principal = /^basic /i.test(header ?? "")
        ? await authenticateBasic(c.get("services"), header)
        : await authenticate(c.get("services"), header);
      if (principal.role !== "ops" && principal.role !== "admin") throw new ForbiddenError();
    } catch (err) {
      if (err instanceof UnauthorizedError) {
        return problemResponse(c, {
          status: 401,
          code: "unauthorized",
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
  const adapter = new HonoAdapter(serveStatic);
  createBullBoard({
    queues: services.queues.all().map((q) => new BullMQAdapter(q)),
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: "Payments queues" } },
  });
  adapter.setBasePath(BASE);
  app.route(BASE, adapter.registerPlugin());
}
