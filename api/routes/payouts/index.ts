import type { App } from "../../env.ts";
import { registerCreatePayout } from "./create.ts";
import { registerGetPayout } from "./get.ts";
import { registerListPayouts } from "./list.ts";
import { registerMarkPayoutFailed } from "./mark-failed.ts";
import { registerMarkPayoutPaid } from "./mark-paid.ts";

/** Registers every payout route (one file per route in this folder). */
export function registerPayoutRoutes(app: App): void {
  registerCreatePayout(app);
  registerListPayouts(app);
  registerGetPayout(app);
  registerMarkPayoutPaid(app);
  registerMarkPayoutFailed(app);
}
