import { createRoute } from "@hono/zod-openapi";
import { closeAccount } from "../../../shared/account-lifecycle.ts";
import { type App, ctxOf } from "../../env.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonResponse, security } from "../../openapi.ts";
import { AccountNumberParams, AccountSchema, toAccount } from "./schemas.ts";

export function registerCloseAccount(app: App): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/api/v1/accounts/{account_number}/close",
      tags: ["Accounts"],
      summary:
        "Close an empty account for good: zero balance, nothing held or pending (owner or admin; audited)",
      middleware: [requireAuth()],
      security,
      request: { params: AccountNumberParams },
      responses: {
        200: jsonResponse(AccountSchema, "The account, closed"),
        ...errorResponses(401, 403, 404, 422),
      },
    }),
    async (c) => c.json(toAccount(await closeAccount(ctxOf(c), c.req.valid("param").account_number)), 200),
  );
}
