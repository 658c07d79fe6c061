import type { App } from "../../env.ts";

/** Registers every refund route (one file per route in this folder). */
export function registerRefundRoutes(_app: App): void {}
