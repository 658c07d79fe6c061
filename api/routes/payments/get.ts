import { createRoute, z } from "@hono/zod-openapi";
import { getPayment } from "../../../shared/payments/read.ts";
import { type App, ctxOf } from "../../env.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonResponse, security } from "../../openapi.ts";
import { PaymentSchema } from "./schemas.ts";

const route = createRoute({
  method: "get",
  path: "/api/v1/payments/{id}",
  tags: ["Payments"],
  summary: "Retrieve a payment (payer, payee, ops, admin)",
  security,
  middleware: [requireAuth()] as const,
  request: { params: z.object({ id: z.string().min(1).max(64) }) },
  responses: { 200: jsonResponse(PaymentSchema, "The payment"), ...errorResponses(401, 404) },
});

export function registerGetPayment(app: App): void {
  app.openapi(route, async (c) => c.json(await getPayment(ctxOf(c), c.req.valid("param").id), 200));
}
