import { createRoute } from "@hono/zod-openapi";
import { setFrozen } from "../../../shared/account-lifecycle.ts";
import { type App, ctxOf } from "../../env.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonResponse, security } from "../../openapi.ts";
import { AccountNumberParams, AccountSchema, toAccount } from "./schemas.ts";

export function registerUnfreezeAccount(app: App): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/api/v1/accounts/{account_number}/unfreeze",
      tags: ["Accounts"],
      summary: "Unfreeze a frozen account (ops/admin; audited)",
      middleware: [requireAuth("ops", "admin")],
      security,
      request: { params: AccountNumberParams },
      responses: {
        200: jsonResponse(AccountSchema, "The account, active again (already active: unchanged)"),
        ...errorResponses(401, 403, 404, 422),
      },
    }),
    async (c) =>
      c.json(toAccount(await setFrozen(ctxOf(c), c.req.valid("param").account_number, false)), 200),
  );
}
