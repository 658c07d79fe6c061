import type { App } from "../../env.ts";

/** Registers every account route (one file per route in this folder). */
export function registerAccountRoutes(_app: App): void {}
