import { createRoute, z } from "@hono/zod-openapi";
import { listRefunds } from "../../../shared/payments/refunds.ts";
import { type App, ctxOf } from "../../env.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonResponse, listOf, PaginationQuery, security } from "../../openapi.ts";
import { RefundSchema } from "./schemas.ts";

const route = createRoute({
  method: "get",
  path: "/api/v1/refunds",
  tags: ["Refunds"],
  summary: "List refunds of a payment (?payment_id=), or all of the caller's, newest first",
  security,
  middleware: [requireAuth()] as const,
  request: { query: PaginationQuery.extend({ payment_id: z.string().min(1).max(64).optional() }) },
  responses: {
    200: jsonResponse(listOf(RefundSchema, "RefundList"), "A page of refunds"),
    ...errorResponses(401, 404, 422),
  },
});

export function registerListRefunds(app: App): void {
  app.openapi(route, async (c) => c.json(await listRefunds(ctxOf(c), c.req.valid("query")), 200));
}
