import type { Services } from "../../../shared/context.ts";
import type { App } from "../../env.ts";
import { registerAuditLog } from "./audit-log.ts";
import { registerHealth } from "./health.ts";
import { registerLedgerVerify } from "./ledger-verify.ts";
import { registerMetrics } from "./metrics.ts";
import { registerQueueDashboard } from "./queues.ts";

/** Registers the ops routes: health, readiness, metrics, ledger verification, queue dashboard. */
export function registerOpsRoutes(app: App, services: Services): void {
  registerHealth(app);
  registerMetrics(app, services);
  registerLedgerVerify(app);
  registerAuditLog(app);
  registerQueueDashboard(app, services);
}
