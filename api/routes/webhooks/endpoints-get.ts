import { createRoute } from "@hono/zod-openapi";
import { getEndpoint } from "../../../shared/webhooks/endpoints.ts";
import { type App, ctxOf } from "../../env.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonResponse, security } from "../../openapi.ts";
import { EndpointSchema, IdParams } from "./schemas.ts";

const route = createRoute({
  method: "get",
  path: "/api/v1/webhook-endpoints/{id}",
  tags: ["Webhooks"],
  summary: "Retrieve a webhook endpoint (owner, admin); the secret is never shown again",
  security,
  middleware: [requireAuth()] as const,
  request: { params: IdParams },
  responses: { 200: jsonResponse(EndpointSchema, "The endpoint"), ...errorResponses(401, 404) },
});

export function registerGetEndpoint(app: App): void {
  app.openapi(route, async (c) => c.json(await getEndpoint(ctxOf(c), c.req.valid("param").id), 200));
}
