import { createRoute, z } from "@hono/zod-openapi";
import { postingBacklog, setAsideCount } from "../../../shared/payments/operations.ts";
import type { App } from "../../env.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonResponse, security } from "../../openapi.ts";
import { PartitionBacklogSchema } from "./schemas.ts";

const Postings = z
  .object({
    partitions: z.number().int(),
    set_aside: z.number().int().openapi({ description: "Set-aside operations waiting for retry or resolve" }),
    data: z.array(PartitionBacklogSchema),
  })
  .openapi("PostingBacklog");

const route = createRoute({
  method: "get",
  path: "/api/v1/ops/postings",
  tags: ["Ops"],
  summary:
    "The posting backlog per partition, read from Postgres: pending operations, oldest age, last drain",
  security,
  middleware: [requireAuth("ops", "admin")] as const,
  responses: { 200: jsonResponse(Postings, "The backlog"), ...errorResponses(401, 403) },
});

export function registerPostings(app: App): void {
  app.openapi(route, async (c) => {
    const { sql, config } = c.get("services");
    const [data, setAside] = await Promise.all([
      postingBacklog(sql, config.POSTING_PARTITIONS),
      setAsideCount(sql),
    ]);
    return c.json({ partitions: config.POSTING_PARTITIONS, set_aside: setAside, data }, 200);
  });
}
