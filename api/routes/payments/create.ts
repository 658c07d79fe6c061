import { createRoute, z } from "@hono/zod-openapi";
import { createPayment } from "../../../shared/payments/accept.ts";
import type { PaymentObject } from "../../../shared/payments/serialize.ts";
import { type App, ctxOf } from "../../env.ts";
import { IdempotencyKeyParameter, idempotentRequest, idempotentResponse } from "../../idempotency.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { AmountInput, errorResponses, jsonBody, jsonResponse, security } from "../../openapi.ts";
import { AccountNumber, Description, Metadata, PaymentSchema } from "./schemas.ts";

const Body = z
  .strictObject({
    from_account: AccountNumber,
    to_account: AccountNumber.nullish().openapi({ description: "The payee (or give splits)" }),
    splits: z
      .array(z.strictObject({ to_account: AccountNumber, amount: AmountInput }))
      .max(100)
      .nullish()
      .openapi({
        description:
          "Instead of to_account: 1 to 10 payees, distinct user accounts in the payment's currency other than " +
          "from_account, amounts adding up to amount (else 422 splits_mismatch). The first is the merchant of " +
          "record: it may capture and refund. Partial captures and refunds are divided pro rata: " +
          "share_i = floor(total * a_i / sum a), the leftover minor units one each to the first splits in order.",
      }),
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
  parameters: [IdempotencyKeyParameter],
  request: { body: jsonBody(Body) },
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
