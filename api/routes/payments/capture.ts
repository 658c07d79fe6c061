import { createRoute, z } from "@hono/zod-openapi";
import { capturePayment } from "../../../shared/payments/holds.ts";
import type { PaymentObject } from "../../../shared/payments/serialize.ts";
import { type App, ctxOf } from "../../env.ts";
import { IdempotencyKeyParameter, idempotentRequest, idempotentResponse } from "../../idempotency.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { AmountInput, errorResponses, jsonResponse, security } from "../../openapi.ts";
import { PaymentSchema } from "./schemas.ts";

const Body = z
  .strictObject({
    amount: AmountInput.optional().openapi({
      description: "Default: everything capturable; the rest is released",
    }),
    idempotency_key: z.string().optional(),
  })
  .openapi("CapturePayment");

const route = createRoute({
  method: "post",
  path: "/api/v1/payments/{id}/capture",
  tags: ["Payments"],
  summary: "Capture a held payment, fully or partly (payee or admin); posted by the workers",
  security,
  middleware: [requireAuth()] as const,
  parameters: [IdempotencyKeyParameter],
  request: {
    params: z.object({ id: z.string().min(1).max(64) }),
    body: { required: false, content: { "application/json": { schema: Body } } },
  },
  responses: {
    202: jsonResponse(PaymentSchema, "Accepted: the capture will be posted"),
    ...errorResponses(400, 401, 403, 404, 409, 422, 503),
  },
});

export function registerCapturePayment(app: App): void {
  app.openapi(route, async (c) => {
    const body = c.req.valid("json") ?? {};
    const result = await capturePayment(ctxOf(c), c.req.valid("param").id, body, idempotentRequest(c, body));
    return idempotentResponse<PaymentObject>(c, result);
  });
}
