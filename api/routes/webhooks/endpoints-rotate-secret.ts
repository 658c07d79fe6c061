import { createRoute } from "@hono/zod-openapi";
import { rotateEndpointSecret } from "../../../shared/webhooks/endpoints.ts";
import { type App, ctxOf } from "../../env.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonResponse, security } from "../../openapi.ts";
import { EndpointWithSecretSchema, IdParams } from "./schemas.ts";

const route = createRoute({
  method: "post",
  path: "/api/v1/webhook-endpoints/{id}/rotate-secret",
  tags: ["Webhooks"],
  summary: "Rotate the signing secret; the old one keeps signing alongside the new one for 24 h",
  security,
  middleware: [requireAuth()] as const,
  request: { params: IdParams },
  responses: {
    200: jsonResponse(EndpointWithSecretSchema, "The endpoint with its new secret, shown only here"),
    ...errorResponses(401, 404),
  },
});

export function registerRotateEndpointSecret(app: App): void {
  app.openapi(route, async (c) => {
    const body = await rotateEndpointSecret(ctxOf(c), c.req.valid("param").id);
    c.header("Cache-Control", "no-store"); // carries the signing secret
    return c.json(body, 200);
  });
}
