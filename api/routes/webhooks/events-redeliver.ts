import { createRoute, z } from "@hono/zod-openapi";
import { redeliverEvent } from "../../../shared/webhooks/dispatch.ts";
import { type App, ctxOf } from "../../env.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonResponse, security } from "../../openapi.ts";
import { DeliverySchema, IdParams } from "./schemas.ts";

const Redelivery = z.object({ data: z.array(DeliverySchema) }).openapi("WebhookRedelivery");

const route = createRoute({
  method: "post",
  path: "/api/v1/events/{id}/redeliver",
  tags: ["Events"],
  summary: "Send an event again to its webhook endpoints",
  description:
    "Starts a new delivery (a new series of attempts) to each of the caller's enabled endpoints subscribed to the event's type; for ops and admin, to every such endpoint of the event's parties. Answers with the deliveries made (possibly none).",
  security,
  middleware: [requireAuth()] as const,
  request: { params: IdParams },
  responses: {
    202: jsonResponse(Redelivery, "Accepted: the deliveries made"),
    ...errorResponses(401, 404),
  },
});

export function registerRedeliverEvent(app: App): void {
  app.openapi(route, async (c) =>
    c.json({ data: await redeliverEvent(ctxOf(c), c.req.valid("param").id) }, 202),
  );
}
