import { createRoute, z } from "@hono/zod-openapi";
import { cancelPayment } from "../../../shared/payments/holds.ts";
import type { PaymentObject } from "../../../shared/payments/serialize.ts";
import { type App, ctxOf } from "../../env.ts";
import { IdempotencyKeyParameter, idempotentRequest, idempotentResponse } from "../../idempotency.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonResponse, security } from "../../openapi.ts";
import { PaymentSchema } from "./schemas.ts";

const Body = z.strictObject({ idempotency_key: z.string().optional() }).openapi("CancelPayment");

const route = createRoute({
  method: "post",
  path: "/api/v1/payments/{id}/cancel",
  tags: ["Payments"],
  summary: "Cancel a held payment before capture (payer, payee or admin); releases the hold",
  security,
  middleware: [requireAuth()] as const,
  parameters: [IdempotencyKeyParameter],
  request: {
    params: z.object({ id: z.string().min(1).max(64) }),
    body: { required: false, content: { "application/json": { schema: Body } } },
  },
  responses: {
    202: jsonResponse(PaymentSchema, "Accepted: the release will be posted"),
    ...errorResponses(400, 401, 403, 404, 409, 422, 503),
  },
});

export function registerCancelPayment(app: App): void {
  app.openapi(route, async (c) => {
    const body = c.req.valid("json") ?? {};
    const result = await cancelPayment(ctxOf(c), c.req.valid("param").id, idempotentRequest(c, body));
    return idempotentResponse<PaymentObject>(c, result);
  });
}
