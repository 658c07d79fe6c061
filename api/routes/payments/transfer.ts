import { createRoute, z } from "@hono/zod-openapi";
import { createTransfer } from "../../../shared/payments/accept.ts";
import type { PaymentObject } from "../../../shared/payments/serialize.ts";
import { type App, ctxOf } from "../../env.ts";
import { IdempotencyKeyParameter, idempotentRequest, idempotentResponse } from "../../idempotency.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { AmountInput, errorResponses, jsonBody, jsonResponse, security } from "../../openapi.ts";
import { AccountNumber, Description, Metadata, PaymentSchema } from "./schemas.ts";

const Body = z
  .strictObject({
    to: z
      .string()
      .min(1)
      .max(320)
      .openapi({ description: "An account number or a user's email", example: "bob@example.com" }),
    amount: AmountInput,
    currency: z.string().openapi({ example: "USD" }),
    from_account: AccountNumber.nullish().openapi({
      description: "Default: the caller's oldest account in currency",
    }),
    description: Description.nullish(),
    metadata: Metadata.nullish(),
    idempotency_key: z.string().optional(),
  })
  .openapi("CreateTransfer");

function transferRoute(path: "/api/v1/transfers" | "/api/v1/transfer") {
  return createRoute({
    method: "post",
    path,
    tags: ["Payments"],
    summary: path.endsWith("s")
      ? "P2P transfer to an account number or email"
      : "Alias of POST /api/v1/transfers",
    security,
    middleware: [requireAuth()] as const,
    parameters: [IdempotencyKeyParameter],
    request: { body: jsonBody(Body) },
    responses: {
      202: jsonResponse(PaymentSchema, "Accepted: the pending transfer"),
      ...errorResponses(400, 401, 404, 409, 422, 503),
    },
  });
}

export function registerTransfers(app: App): void {
  for (const path of ["/api/v1/transfers", "/api/v1/transfer"] as const) {
    app.openapi(transferRoute(path), async (c) => {
      const body = c.req.valid("json");
      const result = await createTransfer(ctxOf(c), body, idempotentRequest(c, body));
      return idempotentResponse<PaymentObject>(c, result);
    });
  }
}
