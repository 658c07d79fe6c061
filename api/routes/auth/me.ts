import { createRoute } from "@hono/zod-openapi";
import { getCurrentUser } from "../../../shared/auth/users.ts";
import { type App, ctxOf } from "../../env.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonResponse, security } from "../../openapi.ts";
import { toUser, UserSchema } from "./schemas.ts";

export function registerMe(app: App): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/auth/me",
      tags: ["Auth"],
      summary: "The caller",
      middleware: [requireAuth()],
      security,
      responses: {
        200: jsonResponse(UserSchema, "The authenticated user"),
        ...errorResponses(401),
      },
    }),
    async (c) => c.json(toUser(await getCurrentUser(ctxOf(c))), 200),
  );
}
