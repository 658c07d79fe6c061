import { createRoute, z } from "@hono/zod-openapi";
import { databaseAlive } from "../../../shared/db/index.ts";
import { redisAlive } from "../../../shared/redis.ts";
import type { App } from "../../env.ts";

const Health = z.object({ status: z.string() }).openapi("Health");
const Ready = z
  .object({
    status: z.enum(["ready", "unavailable"]),
    checks: z.object({ postgres: z.boolean(), redis: z.boolean() }),
  })
  .openapi("Ready");

export function registerHealth(app: App): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/health",
      tags: ["Ops"],
      summary: "Liveness: 200 while the process runs",
      responses: { 200: { description: "Alive", content: { "application/json": { schema: Health } } } },
    }),
    (c) => c.json({ status: "ok" }, 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/ready",
      tags: ["Ops"],
      summary: "Readiness: 200 when Postgres and Redis answer, else 503",
      responses: {
        200: { description: "Ready", content: { "application/json": { schema: Ready } } },
        503: { description: "Not ready", content: { "application/json": { schema: Ready } } },
      },
    }),
    async (c) => {
      const { sql, redis } = c.get("services");
      const [postgres, redisOk] = await Promise.all([databaseAlive(sql), redisAlive(redis)]);
      const checks = { postgres, redis: redisOk };
      return postgres && redisOk
        ? c.json({ status: "ready" as const, checks }, 200)
        : c.json({ status: "unavailable" as const, checks }, 503);
    },
  );
}
