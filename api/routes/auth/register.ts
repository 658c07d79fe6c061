import { createRoute, z } from "@hono/zod-openapi";
import { registerUser } from "../../../shared/auth/users.ts";
import type { App } from "../../env.ts";
import { errorResponses, jsonBody, jsonResponse } from "../../openapi.ts";
import { AccountSchema, toAccount } from "../accounts/schemas.ts";
import { Email, NewPassword, toUser, UserSchema } from "./schemas.ts";

const RegisterBody = z
  .object({
    email: Email,
    password: NewPassword,
    name: z.string().trim().min(1).max(200).optional(),
    role: z.enum(["customer", "merchant"]).optional().openapi({ description: "Default customer" }),
    currency: z.string().optional().openapi({ description: "Wallet currency, default USD", example: "USD" }),
  })
  .openapi("RegisterRequest");

const Registered = z.object({ user: UserSchema, account: AccountSchema }).openapi("Registration");

export function registerRegister(app: App): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/api/v1/auth/register",
      tags: ["Auth"],
      summary: "Create a user and their wallet account",
      request: { body: jsonBody(RegisterBody) },
      responses: {
        201: jsonResponse(Registered, "The user and their wallet"),
        ...errorResponses(400, 409, 413, 422),
      },
    }),
    async (c) => {
      const { user, account } = await registerUser(c.get("services"), c.req.valid("json"));
      return c.json({ user: toUser(user), account: toAccount(account) }, 201);
    },
  );
}
