import { createRoute, z } from "@hono/zod-openapi";
import { createPayment } from "../../../shared/payments/accept.ts";
import type { PaymentObject } from "../../../shared/payments/serialize.ts";
import { type App, ctxOf } from "../../env.ts";
import { IdempotencyHeaders, idempotentRequest, idempotentResponse } from "../../idempotency.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { AmountInput, errorResponses, jsonBody, jsonResponse, security } from "../../openapi.ts";
import { AccountNumber, Description, Metadata, PaymentSchema } from "./schemas.ts";

const Body = z
  .strictObject({
    from_account: AccountNumber,
    to_account: AccountNumber,
    amount: AmountInput,
    currency: z.string().openapi({ example: "USD" }),
    description: Description.nullish(),
    metadata: Metadata.nullish(),
    capture_method: z.enum(["automatic", "manual"]).optional(),
    idempotency_key: z.string().optional(),
  })
  .openapi("CreatePayment");

export const route = createRoute({
  method: "post",
  path: "/api/v1/payments",
  tags: ["Payments"],
  summary: "Create a payment (accepted at once as pending, posted by the workers)",
  security,
  middleware: [requireAuth()] as const,
  request: { body: jsonBody(Body), headers: IdempotencyHeaders },
  responses: {
    202: jsonResponse(PaymentSchema, "Accepted: the pending payment"),
    ...errorResponses(400, 401, 404, 409, 422, 503),
  },
});

export function registerCreatePayment(app: App): void {
  app.openapi(route, async (c) => {
    const body = c.req.valid("json");
    const result = await createPayment(ctxOf(c), body, idempotentRequest(c, body));
    return idempotentResponse<PaymentObject>(c, result);
  });
}
