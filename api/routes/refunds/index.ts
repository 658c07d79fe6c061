import type { App } from "../../env.ts";
import { registerCreateRefund } from "./create.ts";
import { registerGetRefund } from "./get.ts";
import { registerListRefunds } from "./list.ts";

/** Registers every refund route (one file per route in this folder). */
export function registerRefundRoutes(app: App): void {
  registerCreateRefund(app);
  registerListRefunds(app);
  registerGetRefund(app);
}
