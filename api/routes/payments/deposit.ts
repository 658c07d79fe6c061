import { createRoute, z } from "@hono/zod-openapi";
import { createDeposit } from "../../../shared/payments/accept.ts";
import type { PaymentObject } from "../../../shared/payments/serialize.ts";
import { type App, ctxOf } from "../../env.ts";
import { IdempotencyKeyParameter, idempotentRequest, idempotentResponse } from "../../idempotency.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { AmountInput, errorResponses, jsonBody, jsonResponse, security } from "../../openapi.ts";
import { AccountNumber, Description, PaymentSchema } from "./schemas.ts";

const Body = z
  .strictObject({
    account_number: AccountNumber,
    amount: AmountInput,
    currency: z.string().openapi({ example: "USD" }),
    description: Description.nullish(),
    idempotency_key: z.string().optional(),
  })
  .openapi("CreateDeposit");

const route = createRoute({
  method: "post",
  path: "/api/v1/deposits",
  tags: ["Payments"],
  summary: "Deposit into an account from the external funding account (admin)",
  security,
  middleware: [requireAuth("admin")] as const,
  parameters: [IdempotencyKeyParameter],
  request: { body: jsonBody(Body) },
  responses: {
    202: jsonResponse(PaymentSchema, "Accepted: the pending deposit"),
    ...errorResponses(400, 401, 403, 404, 409, 422, 503),
  },
});

export function registerCreateDeposit(app: App): void {
  app.openapi(route, async (c) => {
    const body = c.req.valid("json");
    const result = await createDeposit(ctxOf(c), body, idempotentRequest(c, body));
    return idempotentResponse<PaymentObject>(c, result);
  });
}
