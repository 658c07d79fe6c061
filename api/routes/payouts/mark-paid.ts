import { createRoute, z } from "@hono/zod-openapi";
import { settlePayout } from "../../../shared/payouts/payouts.ts";
import type { PayoutObject } from "../../../shared/payouts/serialize.ts";
import { type App, ctxOf } from "../../env.ts";
import { IdempotencyKeyParameter, idempotentRequest, idempotentResponse } from "../../idempotency.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonResponse, security } from "../../openapi.ts";
import { PayoutId, PayoutSchema } from "./schemas.ts";

const Body = z.strictObject({ idempotency_key: z.string().optional() }).openapi("MarkPayoutPaid");

const route = createRoute({
  method: "post",
  path: "/api/v1/payouts/{id}/mark-paid",
  tags: ["Payouts"],
  summary: "Settle a payout in transit as paid (ops or admin): the money leaves to the external account",
  security,
  middleware: [requireAuth("ops", "admin")] as const,
  parameters: [IdempotencyKeyParameter],
  request: {
    params: PayoutId,
    body: { required: false, content: { "application/json": { schema: Body } } },
  },
  responses: {
    200: jsonResponse(PayoutSchema, "The payout, paid"),
    ...errorResponses(400, 401, 403, 404, 409, 422, 503),
  },
});

export function registerMarkPayoutPaid(app: App): void {
  app.openapi(route, async (c) => {
    const body = c.req.valid("json") ?? {};
    const result = await settlePayout(
      ctxOf(c),
      c.req.valid("param").id,
      "mark_paid",
      {},
      idempotentRequest(c, body),
    );
    return idempotentResponse<PayoutObject, 200>(c, result);
  });
}
