import { createRoute, z } from "@hono/zod-openapi";
import { createEndpoint } from "../../../shared/webhooks/endpoints.ts";
import { type App, ctxOf } from "../../env.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonBody, jsonResponse, security } from "../../openapi.ts";
import { EndpointWithSecretSchema, EventFilterList, WebhookDescription, WebhookUrl } from "./schemas.ts";

const Body = z
  .strictObject({ url: WebhookUrl, events: EventFilterList, description: WebhookDescription.nullish() })
  .openapi("CreateWebhookEndpoint");

const route = createRoute({
  method: "post",
  path: "/api/v1/webhook-endpoints",
  tags: ["Webhooks"],
  summary: "Create a webhook endpoint. Its signing secret is shown only in this response.",
  security,
  middleware: [requireAuth()] as const,
  request: { body: jsonBody(Body) },
  responses: {
    201: jsonResponse(EndpointWithSecretSchema, "The new endpoint, with its secret"),
    ...errorResponses(400, 401, 413, 422),
  },
});

export function registerCreateEndpoint(app: App): void {
  app.openapi(route, async (c) => {
    const body = await createEndpoint(ctxOf(c), c.req.valid("json"));
    c.header("Cache-Control", "no-store"); // carries the signing secret
    return c.json(body, 201);
  });
}
