import type { App } from "../../env.ts";

/** Registers every event and webhook endpoint route (one file per route in this folder). */
export function registerWebhookRoutes(_app: App): void {}
