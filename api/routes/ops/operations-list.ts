import { createRoute, z } from "@hono/zod-openapi";
import { listOperations, OPERATION_STATUSES } from "../../../shared/payments/operations.ts";
import type { App } from "../../env.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonResponse, listOf, PaginationQuery, security } from "../../openapi.ts";
import { OperationSchema } from "./schemas.ts";

const Query = PaginationQuery.extend({
  status: z.enum(OPERATION_STATUSES).default("failed").openapi({
    description:
      "failed: set aside, waiting for ops; pending: waiting to post; resolved: closed by ops without posting; done: posted after a retry. Other posted operations leave the outbox (the payment shows the outcome).",
  }),
});

const route = createRoute({
  method: "get",
  path: "/api/v1/ops/operations",
  tags: ["Ops"],
  summary: "List posting operations by status (default failed: the set-aside ones), newest first",
  security,
  middleware: [requireAuth("ops", "admin")] as const,
  request: { query: Query },
  responses: {
    200: jsonResponse(listOf(OperationSchema, "OperationList"), "A page of operations"),
    ...errorResponses(401, 403, 422),
  },
});

export function registerListOperations(app: App): void {
  app.openapi(route, async (c) =>
    c.json(await listOperations(c.get("services").sql, c.req.valid("query")), 200),
  );
}
