import { createRoute } from "@hono/zod-openapi";
import { deleteEndpoint } from "../../../shared/webhooks/endpoints.ts";
import { type App, ctxOf } from "../../env.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonResponse, security } from "../../openapi.ts";
import { DeletedEndpointSchema, IdParams } from "./schemas.ts";

const route = createRoute({
  method: "delete",
  path: "/api/v1/webhook-endpoints/{id}",
  tags: ["Webhooks"],
  summary: "Delete a webhook endpoint (owner, admin); its pending deliveries are canceled",
  security,
  middleware: [requireAuth()] as const,
  request: { params: IdParams },
  responses: { 200: jsonResponse(DeletedEndpointSchema, "Deleted"), ...errorResponses(401, 404) },
});

export function registerDeleteEndpoint(app: App): void {
  app.openapi(route, async (c) => c.json(await deleteEndpoint(ctxOf(c), c.req.valid("param").id), 200));
}
