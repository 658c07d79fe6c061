import { createRoute } from "@hono/zod-openapi";
import { listEvents } from "../../../shared/webhooks/events.ts";
import { type App, ctxOf } from "../../env.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonResponse, listOf, PaginationQuery, security } from "../../openapi.ts";
import { EventSchema, EventType } from "./schemas.ts";

const Query = PaginationQuery.extend({ type: EventType.optional() });

const route = createRoute({
  method: "get",
  path: "/api/v1/events",
  tags: ["Events"],
  summary: "List events about the caller's payments and refunds (ops/admin: all), newest first",
  security,
  middleware: [requireAuth()] as const,
  request: { query: Query },
  responses: {
    200: jsonResponse(listOf(EventSchema, "EventList"), "A page of events"),
    ...errorResponses(401, 422),
  },
});

export function registerListEvents(app: App): void {
  app.openapi(route, async (c) => c.json(await listEvents(ctxOf(c), c.req.valid("query")), 200));
}
