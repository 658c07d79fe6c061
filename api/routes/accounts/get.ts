import { createRoute } from "@hono/zod-openapi";
import { getAccount } from "../../../shared/accounts.ts";
import { type App, ctxOf } from "../../env.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonResponse, security } from "../../openapi.ts";
import { AccountNumberParams, AccountSchema, toAccount } from "./schemas.ts";

export function registerGetAccount(app: App): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/accounts/{account_number}",
      tags: ["Accounts"],
      summary: "One account with its balances",
      middleware: [requireAuth()],
      security,
      request: { params: AccountNumberParams },
      responses: {
        200: jsonResponse(AccountSchema, "The account"),
        ...errorResponses(401, 404, 422),
      },
    }),
    async (c) => c.json(toAccount(await getAccount(ctxOf(c), c.req.valid("param").account_number)), 200),
  );
}
