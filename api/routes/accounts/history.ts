import { createRoute } from "@hono/zod-openapi";
import { accountHistory } from "../../../shared/accounts.ts";
import { type App, ctxOf } from "../../env.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonResponse, listOf, PaginationQuery, security } from "../../openapi.ts";
import { AccountNumberParams, LedgerEntrySchema, toEntry } from "./schemas.ts";

export const LedgerEntryList = listOf(LedgerEntrySchema, "LedgerEntryList");

export function registerAccountHistory(app: App): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/accounts/{account_number}/history",
      tags: ["Accounts"],
      summary: "An account's ledger entries, newest first",
      middleware: [requireAuth()],
      security,
      request: { params: AccountNumberParams, query: PaginationQuery },
      responses: {
        200: jsonResponse(LedgerEntryList, "A page of ledger entries"),
        ...errorResponses(401, 404, 422),
      },
    }),
    async (c) => {
      const page = await accountHistory(ctxOf(c), c.req.valid("param").account_number, c.req.valid("query"));
      return c.json({ ...page, data: page.data.map(toEntry) }, 200);
    },
  );
}
