import { createRoute } from "@hono/zod-openapi";
import { getEvent } from "../../../shared/webhooks/events.ts";
import { type App, ctxOf } from "../../env.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonResponse, security } from "../../openapi.ts";
import { EventSchema, IdParams } from "./schemas.ts";

const route = createRoute({
  method: "get",
  path: "/api/v1/events/{id}",
  tags: ["Events"],
  summary: "Retrieve an event (its parties, ops, admin)",
  security,
  middleware: [requireAuth()] as const,
  request: { params: IdParams },
  responses: { 200: jsonResponse(EventSchema, "The event"), ...errorResponses(401, 404) },
});

export function registerGetEvent(app: App): void {
  app.openapi(route, async (c) => c.json(await getEvent(ctxOf(c), c.req.valid("param").id), 200));
}
