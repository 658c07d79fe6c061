import type { App } from "../../env.ts";

/** Registers every auth and API key route (one file per route in this folder). */
export function registerAuthRoutes(_app: App): void {}
