import { createRoute, z } from "@hono/zod-openapi";
import { settlePayout } from "../../../shared/payouts/payouts.ts";
import type { PayoutObject } from "../../../shared/payouts/serialize.ts";
import { type App, ctxOf } from "../../env.ts";
import { IdempotencyKeyParameter, idempotentRequest, idempotentResponse } from "../../idempotency.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonBody, jsonResponse, security } from "../../openapi.ts";
import { PayoutId, PayoutSchema } from "./schemas.ts";

const Body = z
  .strictObject({
    reason: z.string().trim().min(1).max(500).openapi({ example: "bank returned: account closed" }),
    idempotency_key: z.string().optional(),
  })
  .openapi("MarkPayoutFailed");

const route = createRoute({
  method: "post",
  path: "/api/v1/payouts/{id}/mark-failed",
  tags: ["Payouts"],
  summary: "Settle a payout in transit as failed (ops or admin): the money goes back to the account",
  security,
  middleware: [requireAuth("ops", "admin")] as const,
  parameters: [IdempotencyKeyParameter],
  request: { params: PayoutId, body: jsonBody(Body) },
  responses: {
    200: jsonResponse(PayoutSchema, "The payout, failed and returned"),
    ...errorResponses(400, 401, 403, 404, 409, 422, 503),
  },
});

export function registerMarkPayoutFailed(app: App): void {
  app.openapi(route, async (c) => {
    const body = c.req.valid("json");
    const result = await settlePayout(
      ctxOf(c),
      c.req.valid("param").id,
      "mark_failed",
      { reason: body.reason },
      idempotentRequest(c, body),
    );
    return idempotentResponse<PayoutObject, 200>(c, result);
  });
}
