import { createRoute, z } from "@hono/zod-openapi";
import { PAYOUT_STATUSES } from "../../../shared/payments/state.ts";
import { listPayouts } from "../../../shared/payouts/payouts.ts";
import { type App, ctxOf } from "../../env.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonResponse, listOf, PaginationQuery, security } from "../../openapi.ts";
import { PayoutSchema } from "./schemas.ts";

const Query = PaginationQuery.extend({ status: z.enum(PAYOUT_STATUSES).optional() });

const route = createRoute({
  method: "get",
  path: "/api/v1/payouts",
  tags: ["Payouts"],
  summary: "List the caller's payouts (ops/admin: all), newest first",
  security,
  middleware: [requireAuth()] as const,
  request: { query: Query },
  responses: {
    200: jsonResponse(listOf(PayoutSchema, "PayoutList"), "A page of payouts"),
    ...errorResponses(401, 422),
  },
});

export function registerListPayouts(app: App): void {
  app.openapi(route, async (c) => c.json(await listPayouts(ctxOf(c), c.req.valid("query")), 200));
}
