import type { App } from "../../env.ts";
import { registerCancelPayment } from "./cancel.ts";
import { registerCapturePayment } from "./capture.ts";
import { registerCreatePayment } from "./create.ts";
import { registerCreateDeposit } from "./deposit.ts";
import { registerGetPayment } from "./get.ts";
import { registerListPayments } from "./list.ts";
import { registerTransfers } from "./transfer.ts";

/** Registers every payment, transfer and deposit route (one file per route in this folder). */
export function registerPaymentRoutes(app: App): void {
  registerCreatePayment(app);
  registerListPayments(app);
  registerGetPayment(app);
  registerCapturePayment(app);
  registerCancelPayment(app);
  registerTransfers(app);
  registerCreateDeposit(app);
}
