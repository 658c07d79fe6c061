import { createRoute, z } from "@hono/zod-openapi";
import { createApiKey } from "../../../shared/auth/api-keys.ts";
import { type App, ctxOf } from "../../env.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonResponse, security } from "../../openapi.ts";
import { NewApiKeySchema, toApiKey } from "./schemas.ts";

const CreateApiKeyBody = z
  .object({ name: z.string().trim().min(1).max(100).optional().openapi({ example: "Checkout server" }) })
  .openapi("CreateApiKeyRequest");

export function registerCreateApiKey(app: App): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/api/v1/api-keys",
      tags: ["API keys"],
      summary: "Create an API key (merchant, admin). The secret is shown only in this response.",
      middleware: [requireAuth("merchant", "admin")],
      security,
      request: {
        body: { required: false, content: { "application/json": { schema: CreateApiKeyBody } } },
      },
      responses: {
        201: jsonResponse(NewApiKeySchema, "The new key, with its secret"),
        ...errorResponses(400, 401, 403, 413, 422),
      },
    }),
    async (c) => {
      const { apiKey, secret } = await createApiKey(ctxOf(c), c.req.valid("json"));
      c.header("Cache-Control", "no-store"); // carries secrets (RFC 6749 §5.1)
      return c.json({ ...toApiKey(apiKey), key: secret }, 201);
    },
  );
}
