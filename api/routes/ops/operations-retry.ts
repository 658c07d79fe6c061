import { createRoute, z } from "@hono/zod-openapi";
import { type OperationObject, retryOperation } from "../../../shared/payments/operations.ts";
import { type App, ctxOf } from "../../env.ts";
import { IdempotencyKeyParameter, idempotentRequest, idempotentResponse } from "../../idempotency.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonResponse, security } from "../../openapi.ts";
import { OperationId, OperationSchema } from "./schemas.ts";

const Body = z.strictObject({ idempotency_key: z.string().optional() }).openapi("RetryOperation");

const route = createRoute({
  method: "post",
  path: "/api/v1/ops/operations/{id}/retry",
  tags: ["Ops"],
  summary: "Put a set-aside operation back in the posting queue, in its place in the order (admin)",
  security,
  middleware: [requireAuth("admin")] as const,
  parameters: [IdempotencyKeyParameter],
  request: {
    params: OperationId,
    body: { required: false, content: { "application/json": { schema: Body } } },
  },
  responses: {
    200: jsonResponse(OperationSchema, "The operation, pending again"),
    ...errorResponses(400, 401, 403, 404, 409, 422, 503),
  },
});

export function registerRetryOperation(app: App): void {
  app.openapi(route, async (c) => {
    const body = c.req.valid("json") ?? {};
    const result = await retryOperation(
      ctxOf(c),
      c.req.valid("param").id,
      idempotentRequest(c, body),
      c.get("requestId"),
    );
    return idempotentResponse<OperationObject, 200>(c, result);
  });
}
