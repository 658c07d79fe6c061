import { createRoute } from "@hono/zod-openapi";
import { listEndpointAttempts } from "../../../shared/webhooks/endpoints.ts";
import { type App, ctxOf } from "../../env.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonResponse, listOf, PaginationQuery, security } from "../../openapi.ts";
import { AttemptSchema, IdParams } from "./schemas.ts";

const route = createRoute({
  method: "get",
  path: "/api/v1/webhook-endpoints/{id}/deliveries",
  tags: ["Webhooks"],
  summary: "Every delivery attempt made to the endpoint, newest first (owner, admin)",
  security,
  middleware: [requireAuth()] as const,
  request: { params: IdParams, query: PaginationQuery },
  responses: {
    200: jsonResponse(listOf(AttemptSchema, "WebhookAttemptList"), "A page of attempts"),
    ...errorResponses(401, 404, 422),
  },
});

export function registerListEndpointDeliveries(app: App): void {
  app.openapi(route, async (c) =>
    c.json(await listEndpointAttempts(ctxOf(c), c.req.valid("param").id, c.req.valid("query")), 200),
  );
}
