import type { Services } from "../../../shared/context.ts";
import type { App } from "../../env.ts";
import { registerAuditLog } from "./audit-log.ts";
import { registerHealth } from "./health.ts";
import { registerLedgerVerify } from "./ledger-verify.ts";
import { registerMetrics } from "./metrics.ts";
import { registerListOperations } from "./operations-list.ts";
import { registerResolveOperation } from "./operations-resolve.ts";
import { registerRetryOperation } from "./operations-retry.ts";
import { registerPipelinePage } from "./pipeline.ts";
import { registerPostings } from "./postings.ts";
import { registerQueueDashboard } from "./queues.ts";

/** Registers the ops routes: health, readiness, metrics, ledger verification, queue dashboard. */
export function registerOpsRoutes(app: App, services: Services): void {
  registerHealth(app);
  registerMetrics(app, services);
  registerLedgerVerify(app);
  registerAuditLog(app);
  registerQueueDashboard(app, services);
  registerPipelinePage(app, services);
  registerPostings(app);
  registerListOperations(app);
  registerRetryOperation(app);
  registerResolveOperation(app);
}
