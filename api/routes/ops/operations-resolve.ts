import { createRoute, z } from "@hono/zod-openapi";
import { type OperationObject, resolveOperation } from "../../../shared/payments/operations.ts";
import { type App, ctxOf } from "../../env.ts";
import { IdempotencyKeyParameter, idempotentRequest, idempotentResponse } from "../../idempotency.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonBody, jsonResponse, security } from "../../openapi.ts";
import { OperationId, OperationSchema } from "./schemas.ts";

const Body = z
  .strictObject({
    reason: z.string().trim().min(1).max(500).openapi({ example: "payee account closed by compliance" }),
    idempotency_key: z.string().optional(),
  })
  .openapi("ResolveOperation");

const route = createRoute({
  method: "post",
  path: "/api/v1/ops/operations/{id}/resolve",
  tags: ["Ops"],
  summary:
    "Close a set-aside operation without posting it (admin): its payment or refund fails, a hold is left as it was",
  security,
  middleware: [requireAuth("admin")] as const,
  parameters: [IdempotencyKeyParameter],
  request: { params: OperationId, body: jsonBody(Body) },
  responses: {
    200: jsonResponse(OperationSchema, "The operation, resolved"),
    ...errorResponses(400, 401, 403, 404, 409, 422, 503),
  },
});

export function registerResolveOperation(app: App): void {
  app.openapi(route, async (c) => {
    const body = c.req.valid("json");
    const result = await resolveOperation(
      ctxOf(c),
      c.req.valid("param").id,
      body.reason,
      idempotentRequest(c, body),
      c.get("requestId"),
    );
    return idempotentResponse<OperationObject, 200>(c, result);
  });
}
