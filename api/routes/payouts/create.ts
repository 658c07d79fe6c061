import { createRoute, z } from "@hono/zod-openapi";
import { createPayout } from "../../../shared/payouts/payouts.ts";
import type { PayoutObject } from "../../../shared/payouts/serialize.ts";
import { type App, ctxOf } from "../../env.ts";
import { IdempotencyKeyParameter, idempotentRequest, idempotentResponse } from "../../idempotency.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { AmountInput, errorResponses, jsonBody, jsonResponse, security } from "../../openapi.ts";
import { AccountNumber, Description } from "../payments/schemas.ts";
import { PayoutSchema } from "./schemas.ts";

const Destination = z
  .strictObject({
    type: z.literal("bank_account"),
    account_holder: z.string().min(1).max(140).openapi({ example: "Ada Lovelace" }),
    iban: z.string().min(1).max(64).nullish().openapi({ example: "DE89370400440532013000" }),
    routing_number: z.string().min(1).max(32).nullish().openapi({ example: "110000000" }),
    account_number: z.string().min(1).max(32).nullish().openapi({ example: "000123456789" }),
  })
  .openapi("PayoutDestinationInput", {
    description: "A bank account: an IBAN, or a US routing number and account number",
  });

const Body = z
  .strictObject({
    from_account: AccountNumber,
    amount: AmountInput,
    currency: z.string().openapi({ example: "EUR" }),
    destination: Destination,
    description: Description.nullish(),
    idempotency_key: z.string().optional(),
  })
  .openapi("CreatePayout");

const route = createRoute({
  method: "post",
  path: "/api/v1/payouts",
  tags: ["Payouts"],
  summary: "Pay out from an account to a bank account (owner or admin); posted by the workers",
  security,
  middleware: [requireAuth()] as const,
  parameters: [IdempotencyKeyParameter],
  request: { body: jsonBody(Body) },
  responses: {
    202: jsonResponse(PayoutSchema, "Accepted: the pending payout"),
    ...errorResponses(400, 401, 404, 409, 422, 503),
  },
});

export function registerCreatePayout(app: App): void {
  app.openapi(route, async (c) => {
    const body = c.req.valid("json");
    const result = await createPayout(ctxOf(c), body, idempotentRequest(c, body));
    return idempotentResponse<PayoutObject>(c, result);
  });
}
