import { createRoute } from "@hono/zod-openapi";
import { revokeApiKey } from "../../../shared/auth/api-keys.ts";
import { type App, ctxOf } from "../../env.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonResponse, security } from "../../openapi.ts";
import { ApiKeyIdParams, ApiKeySchema, toApiKey } from "./schemas.ts";

export function registerRevokeApiKey(app: App): void {
  app.openapi(
    createRoute({
      method: "delete",
      path: "/api/v1/api-keys/{id}",
      tags: ["API keys"],
      summary: "Revoke an API key: it stops authenticating at once",
      description: "Answers 200 with the revoked key (revoked_at set); revoking it again returns the same.",
      middleware: [requireAuth("merchant", "admin")],
      security,
      request: { params: ApiKeyIdParams },
      responses: {
        200: jsonResponse(ApiKeySchema, "The revoked key"),
        ...errorResponses(401, 403, 404, 422),
      },
    }),
    async (c) => c.json(toApiKey(await revokeApiKey(ctxOf(c), c.req.valid("param").id)), 200),
  );
}
