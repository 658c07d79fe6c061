import { createRoute, z } from "@hono/zod-openapi";
import { getBalance } from "../../../shared/accounts.ts";
import { type App, ctxOf } from "../../env.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonResponse, security } from "../../openapi.ts";
import { AccountNumberParams, BalanceSchema, toBalance } from "./schemas.ts";

const BalanceQuery = z.object({
  at: z.iso.datetime({ offset: true }).optional().openapi({
    description: "RFC 3339 instant: the balances as they stood then (a future instant means now)",
    example: "2025-01-31T23:59:59Z",
  }),
});

export function registerGetBalance(app: App): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/accounts/{account_number}/balance",
      tags: ["Accounts"],
      summary: "An account's balances, now or at an instant",
      middleware: [requireAuth()],
      security,
      request: { params: AccountNumberParams, query: BalanceQuery },
      responses: {
        200: jsonResponse(BalanceSchema, "The balances"),
        ...errorResponses(401, 404, 422),
      },
    }),
    async (c) => {
      const { at } = c.req.valid("query");
      const balance = await getBalance(
        ctxOf(c),
        c.req.valid("param").account_number,
        at ? new Date(at) : undefined,
      );
      return c.json(toBalance(balance), 200);
    },
  );
}
