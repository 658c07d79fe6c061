import { createRoute, z } from "@hono/zod-openapi";
import { verifyLedger } from "../../../shared/ledger/index.ts";
import { ledgerReport } from "../../../shared/ledger/verify-report.ts";
import type { App } from "../../env.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonResponse, security } from "../../openapi.ts";

const Report = z
  .object({
    ok: z.boolean(),
    checked_at: z.string(),
    trial_balance: z.array(z.object({ currency: z.string(), net: z.string() })),
    mismatched_accounts: z.array(
      z.object({ account_number: z.string(), balance: z.string(), entries_sum: z.string() }),
    ),
    held_mismatches: z.array(z.record(z.string(), z.string())),
  })
  .openapi("LedgerVerification");

const route = createRoute({
  method: "get",
  path: "/api/v1/ops/ledger/verify",
  tags: ["Ops"],
  summary:
    "Trial balance per currency (must be 0) and accounts whose balance differs from their entries (must be none)",
  security,
  middleware: [requireAuth("ops", "admin")] as const,
  responses: { 200: jsonResponse(Report, "The ledger check"), ...errorResponses(401, 403) },
});

export function registerLedgerVerify(app: App): void {
  app.openapi(route, async (c) => c.json(ledgerReport(await verifyLedger(c.get("services").sql)), 200));
}
