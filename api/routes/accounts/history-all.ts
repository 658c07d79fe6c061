import { createRoute } from "@hono/zod-openapi";
import { callerHistory } from "../../../shared/accounts.ts";
import { type App, ctxOf } from "../../env.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonResponse, PaginationQuery, security } from "../../openapi.ts";
import { LedgerEntryList } from "./history.ts";
import { toEntry } from "./schemas.ts";

export function registerCallerHistory(app: App): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/accounts/history",
      tags: ["Accounts"],
      summary: "Ledger entries of all the caller's accounts, newest first",
      middleware: [requireAuth()],
      security,
      request: { query: PaginationQuery },
      responses: {
        200: jsonResponse(LedgerEntryList, "A page of ledger entries"),
        ...errorResponses(401, 422),
      },
    }),
    async (c) => {
      const page = await callerHistory(ctxOf(c), c.req.valid("query"));
      return c.json({ ...page, data: page.data.map(toEntry) }, 200);
    },
  );
}
