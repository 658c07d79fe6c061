import { createRoute, z } from "@hono/zod-openapi";
import { createRefund } from "../../../shared/payments/refunds.ts";
import type { RefundObject } from "../../../shared/payments/serialize.ts";
import { type App, ctxOf } from "../../env.ts";
import { IdempotencyKeyParameter, idempotentRequest, idempotentResponse } from "../../idempotency.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { AmountInput, errorResponses, jsonBody, jsonResponse, security } from "../../openapi.ts";
import { RefundSchema } from "./schemas.ts";

const Body = z
  .strictObject({
    payment_id: z.string().min(1).max(64),
    amount: AmountInput.optional().openapi({ description: "Default: everything not yet refunded" }),
    reason: z.enum(["duplicate", "fraudulent", "requested_by_customer"]).nullish(),
    idempotency_key: z.string().optional(),
  })
  .openapi("CreateRefund");

const route = createRoute({
  method: "post",
  path: "/api/v1/refunds",
  tags: ["Refunds"],
  summary: "Refund a succeeded payment, fully or partly (payee or admin); posted by the workers",
  security,
  middleware: [requireAuth()] as const,
  parameters: [IdempotencyKeyParameter],
  request: { body: jsonBody(Body) },
  responses: {
    202: jsonResponse(RefundSchema, "Accepted: the pending refund"),
    ...errorResponses(400, 401, 403, 404, 409, 422, 503),
  },
});

export function registerCreateRefund(app: App): void {
  app.openapi(route, async (c) => {
    const body = c.req.valid("json");
    const result = await createRefund(ctxOf(c), body, idempotentRequest(c, body));
    return idempotentResponse<RefundObject>(c, result);
  });
}
