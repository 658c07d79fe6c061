import { createRoute } from "@hono/zod-openapi";
import { listEndpoints } from "../../../shared/webhooks/endpoints.ts";
import { type App, ctxOf } from "../../env.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonResponse, listOf, PaginationQuery, security } from "../../openapi.ts";
import { EndpointSchema } from "./schemas.ts";

const route = createRoute({
  method: "get",
  path: "/api/v1/webhook-endpoints",
  tags: ["Webhooks"],
  summary: "List the caller's webhook endpoints (admin: all), newest first",
  security,
  middleware: [requireAuth()] as const,
  request: { query: PaginationQuery },
  responses: {
    200: jsonResponse(listOf(EndpointSchema, "WebhookEndpointList"), "A page of endpoints"),
    ...errorResponses(401, 422),
  },
});

export function registerListEndpoints(app: App): void {
  app.openapi(route, async (c) => c.json(await listEndpoints(ctxOf(c), c.req.valid("query")), 200));
}
