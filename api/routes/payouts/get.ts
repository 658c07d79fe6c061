import { createRoute } from "@hono/zod-openapi";
import { getPayout } from "../../../shared/payouts/payouts.ts";
import { type App, ctxOf } from "../../env.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonResponse, security } from "../../openapi.ts";
import { PayoutId, PayoutSchema } from "./schemas.ts";

const route = createRoute({
  method: "get",
  path: "/api/v1/payouts/{id}",
  tags: ["Payouts"],
  summary: "Retrieve a payout (the account's owner, ops, admin)",
  security,
  middleware: [requireAuth()] as const,
  request: { params: PayoutId },
  responses: { 200: jsonResponse(PayoutSchema, "The payout"), ...errorResponses(401, 404) },
});

export function registerGetPayout(app: App): void {
  app.openapi(route, async (c) => c.json(await getPayout(ctxOf(c), c.req.valid("param").id), 200));
}
