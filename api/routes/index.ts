import type { Services } from "../../shared/context.ts";
import type { App } from "../env.ts";
import { registerAccountRoutes } from "./accounts/index.ts";
import { registerAuthRoutes } from "./auth/index.ts";
import { registerOpsRoutes } from "./ops/index.ts";
import { registerPaymentRoutes } from "./payments/index.ts";
import { registerPayoutRoutes } from "./payouts/index.ts";
import { registerRefundRoutes } from "./refunds/index.ts";
import { registerWebhookRoutes } from "./webhooks/index.ts";

/** Every route of the API, one register function per resource folder. */
export function registerRoutes(app: App, services: Services): void {
  registerOpsRoutes(app, services);
  registerAuthRoutes(app);
  registerAccountRoutes(app);
  registerPaymentRoutes(app);
  registerRefundRoutes(app);
  registerPayoutRoutes(app);
  registerWebhookRoutes(app);
}
