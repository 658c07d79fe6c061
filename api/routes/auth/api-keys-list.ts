import { createRoute } from "@hono/zod-openapi";
import { listApiKeys } from "../../../shared/auth/api-keys.ts";
import { type App, ctxOf } from "../../env.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonResponse, listOf, PaginationQuery, security } from "../../openapi.ts";
import { ApiKeySchema, toApiKey } from "./schemas.ts";

const ApiKeyList = listOf(ApiKeySchema, "ApiKeyList");

export function registerListApiKeys(app: App): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/api-keys",
      tags: ["API keys"],
      summary: "The caller's API keys, newest first, revoked ones included; never the secrets",
      middleware: [requireAuth("merchant", "admin")],
      security,
      request: { query: PaginationQuery },
      responses: {
        200: jsonResponse(ApiKeyList, "A page of keys"),
        ...errorResponses(401, 403, 422),
      },
    }),
    async (c) => {
      const page = await listApiKeys(ctxOf(c), c.req.valid("query"));
      return c.json({ ...page, data: page.data.map(toApiKey) }, 200);
    },
  );
}
