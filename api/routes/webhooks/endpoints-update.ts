import { createRoute, z } from "@hono/zod-openapi";
import { updateEndpoint } from "../../../shared/webhooks/endpoints.ts";
import { type App, ctxOf } from "../../env.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonBody, jsonResponse, security } from "../../openapi.ts";
import { EndpointSchema, EventFilterList, IdParams, WebhookDescription, WebhookUrl } from "./schemas.ts";

const Body = z
  .strictObject({
    url: WebhookUrl.optional(),
    events: EventFilterList.optional(),
    description: WebhookDescription.nullish(),
    enabled: z
      .boolean()
      .optional()
      .openapi({ description: "true re-enables an endpoint disabled after a 410" }),
  })
  .openapi("UpdateWebhookEndpoint");

const route = createRoute({
  method: "patch",
  path: "/api/v1/webhook-endpoints/{id}",
  tags: ["Webhooks"],
  summary: "Update a webhook endpoint (owner, admin): only the fields given change",
  security,
  middleware: [requireAuth()] as const,
  request: { params: IdParams, body: jsonBody(Body) },
  responses: {
    200: jsonResponse(EndpointSchema, "The updated endpoint"),
    ...errorResponses(400, 401, 404, 413, 422),
  },
});

export function registerUpdateEndpoint(app: App): void {
  app.openapi(route, async (c) =>
    c.json(await updateEndpoint(ctxOf(c), c.req.valid("param").id, c.req.valid("json")), 200),
  );
}
