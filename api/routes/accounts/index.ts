import type { App } from "../../env.ts";
import { registerGetBalance } from "./balance.ts";
import { registerCloseAccount } from "./close.ts";
import { registerCreateAccount } from "./create.ts";
import { registerFreezeAccount } from "./freeze.ts";
import { registerGetAccount } from "./get.ts";
import { registerAccountHistory } from "./history.ts";
import { registerCallerHistory } from "./history-all.ts";
import { registerListAccounts } from "./list.ts";
import { registerUnfreezeAccount } from "./unfreeze.ts";

/** Registers every account route (one file per route in this folder). */
export function registerAccountRoutes(app: App): void {
  registerCreateAccount(app);
  registerListAccounts(app);
  // Before /accounts/{account_number}, or "history" would be taken for an account number.
  registerCallerHistory(app);
  registerGetAccount(app);
  registerGetBalance(app);
  registerAccountHistory(app);
  registerFreezeAccount(app);
  registerUnfreezeAccount(app);
  registerCloseAccount(app);
}
