import { createRoute, z } from "@hono/zod-openapi";
import { openWallet } from "../../../shared/accounts.ts";
import { type App, ctxOf } from "../../env.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonBody, jsonResponse, security } from "../../openapi.ts";
import { AccountSchema, toAccount } from "./schemas.ts";

const CreateAccountBody = z
  .object({ currency: z.string().openapi({ description: "ISO 4217 alpha-3", example: "EUR" }) })
  .openapi("CreateAccountRequest");

export function registerCreateAccount(app: App): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/api/v1/accounts",
      tags: ["Accounts"],
      summary: "Open another wallet account for the caller",
      middleware: [requireAuth("customer", "merchant", "admin")],
      security,
      request: { body: jsonBody(CreateAccountBody) },
      responses: {
        201: jsonResponse(AccountSchema, "The new account"),
        ...errorResponses(400, 401, 403, 413, 422),
      },
    }),
    async (c) => c.json(toAccount(await openWallet(ctxOf(c), c.req.valid("json"))), 201),
  );
}
