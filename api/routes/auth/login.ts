import { createRoute, z } from "@hono/zod-openapi";
import { login } from "../../../shared/auth/users.ts";
import { clientAddress } from "../../client-address.ts";
import type { App } from "../../env.ts";
import { errorResponses, jsonBody, jsonResponse } from "../../openapi.ts";
import { Email, TokenPairSchema, toTokenPair } from "./schemas.ts";

const LoginBody = z
  .object({
    email: Email,
    // Any length up to a bound: a login says nothing about password rules, only right or wrong.
    password: z.string().min(1).max(1024).openapi({ format: "password" }),
  })
  .openapi("LoginRequest");

export function registerLogin(app: App): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/api/v1/auth/login",
      tags: ["Auth"],
      summary: "Exchange email and password for an access and a refresh token",
      description:
        "Wrong password and unknown email give the same 401. Failed attempts are throttled per email and per client address (429 with Retry-After).",
      request: { body: jsonBody(LoginBody) },
      responses: {
        200: jsonResponse(TokenPairSchema, "A new session"),
        ...errorResponses(400, 401, 413, 422, 429),
      },
    }),
    async (c) => {
      const input = c.req.valid("json");
      const pair = await login(c.get("services"), { ...input, clientAddress: clientAddress(c) });
      c.header("Cache-Control", "no-store"); // carries secrets (RFC 6749 §5.1)
      return c.json(toTokenPair(pair), 200);
    },
  );
}
