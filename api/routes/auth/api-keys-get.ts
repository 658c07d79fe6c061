import { createRoute } from "@hono/zod-openapi";
import { getApiKey } from "../../../shared/auth/api-keys.ts";
import { type App, ctxOf } from "../../env.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonResponse, security } from "../../openapi.ts";
import { ApiKeyIdParams, ApiKeySchema, toApiKey } from "./schemas.ts";

export function registerGetApiKey(app: App): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/api-keys/{id}",
      tags: ["API keys"],
      summary: "One of the caller's API keys (without its secret)",
      middleware: [requireAuth("merchant", "admin")],
      security,
      request: { params: ApiKeyIdParams },
      responses: {
        200: jsonResponse(ApiKeySchema, "The key"),
        ...errorResponses(401, 403, 404, 422),
      },
    }),
    async (c) => c.json(toApiKey(await getApiKey(ctxOf(c), c.req.valid("param").id)), 200),
  );
}
