import { createRoute } from "@hono/zod-openapi";
import { listAccounts } from "../../../shared/accounts.ts";
import { type App, ctxOf } from "../../env.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonResponse, listOf, PaginationQuery, security } from "../../openapi.ts";
import { AccountSchema, toAccount } from "./schemas.ts";

const AccountList = listOf(AccountSchema, "AccountList");

export function registerListAccounts(app: App): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/accounts",
      tags: ["Accounts"],
      summary: "The caller's accounts, newest first (ops and admin: every account)",
      middleware: [requireAuth()],
      security,
      request: { query: PaginationQuery },
      responses: {
        200: jsonResponse(AccountList, "A page of accounts"),
        ...errorResponses(401, 422),
      },
    }),
    async (c) => {
      const page = await listAccounts(ctxOf(c), c.req.valid("query"));
      return c.json({ ...page, data: page.data.map(toAccount) }, 200);
    },
  );
}
