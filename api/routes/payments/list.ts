import { createRoute, z } from "@hono/zod-openapi";
import { listPayments } from "../../../shared/payments/read.ts";
import { PAYMENT_STATUSES } from "../../../shared/payments/state.ts";
import { type App, ctxOf } from "../../env.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonResponse, listOf, PaginationQuery, security } from "../../openapi.ts";
import { PaymentSchema } from "./schemas.ts";

const Query = PaginationQuery.extend({
  status: z.enum(PAYMENT_STATUSES).optional(),
  account: z.string().min(1).max(64).optional(),
});

const route = createRoute({
  method: "get",
  path: "/api/v1/payments",
  tags: ["Payments"],
  summary: "List payments where the caller is payer or payee (ops/admin: all), newest first",
  security,
  middleware: [requireAuth()] as const,
  request: { query: Query },
  responses: {
    200: jsonResponse(listOf(PaymentSchema, "PaymentList"), "A page of payments"),
    ...errorResponses(401, 422),
  },
});

export function registerListPayments(app: App): void {
  app.openapi(route, async (c) => c.json(await listPayments(ctxOf(c), c.req.valid("query")), 200));
}
