import { createRoute } from "@hono/zod-openapi";
import { endSession } from "../../../shared/auth/sessions.ts";
import type { App } from "../../env.ts";
import { errorResponses, jsonBody } from "../../openapi.ts";
import { RefreshTokenBody } from "./schemas.ts";

export function registerLogout(app: App): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/api/v1/auth/logout",
      tags: ["Auth"],
      summary: "Revoke the session a refresh token belongs to",
      description: "Always 204 for a well-formed request, also for an unknown token (RFC 7009).",
      request: { body: jsonBody(RefreshTokenBody) },
      responses: {
        204: { description: "The session is revoked" },
        ...errorResponses(400, 413, 422),
      },
    }),
    async (c) => {
      await endSession(c.get("services"), c.req.valid("json").refresh_token);
      return c.body(null, 204);
    },
  );
}
