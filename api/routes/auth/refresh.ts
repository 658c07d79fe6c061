import { createRoute } from "@hono/zod-openapi";
import { refreshSession } from "../../../shared/auth/sessions.ts";
import type { App } from "../../env.ts";
import { errorResponses, jsonBody, jsonResponse } from "../../openapi.ts";
import { RefreshTokenBody, TokenPairSchema, toTokenPair } from "./schemas.ts";

export function registerRefresh(app: App): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/api/v1/auth/refresh",
      tags: ["Auth"],
      summary: "Spend a refresh token for a new token pair",
      description:
        "Refresh tokens are single use. Presenting one that was already used revokes its whole session (401).",
      request: { body: jsonBody(RefreshTokenBody) },
      responses: {
        200: jsonResponse(TokenPairSchema, "The next token pair of the session"),
        ...errorResponses(400, 401, 413, 422),
      },
    }),
    async (c) => {
      const pair = await refreshSession(c.get("services"), c.req.valid("json").refresh_token);
      c.header("Cache-Control", "no-store"); // carries secrets (RFC 6749 §5.1)
      return c.json(toTokenPair(pair), 200);
    },
  );
}
