import { createRoute, z } from "@hono/zod-openapi";
import { getRefund } from "../../../shared/payments/refunds.ts";
import { type App, ctxOf } from "../../env.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonResponse, security } from "../../openapi.ts";
import { RefundSchema } from "./schemas.ts";

const route = createRoute({
  method: "get",
  path: "/api/v1/refunds/{id}",
  tags: ["Refunds"],
  summary: "Retrieve a refund (whoever may see its payment)",
  security,
  middleware: [requireAuth()] as const,
  request: { params: z.object({ id: z.string().min(1).max(64) }) },
  responses: { 200: jsonResponse(RefundSchema, "The refund"), ...errorResponses(401, 404) },
});

export function registerGetRefund(app: App): void {
  app.openapi(route, async (c) => c.json(await getRefund(ctxOf(c), c.req.valid("param").id), 200));
}
