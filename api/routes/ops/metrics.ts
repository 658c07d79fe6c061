import type { Services } from "../../../shared/context.ts";
import type { App } from "../../env.ts";

const STATES = [
  "waiting",
  "active",
  "delayed",
  "failed",
  "completed",
  "prioritized",
  "waiting-children",
] as const;

/** GET /metrics: Prometheus text. Queue depths are read from Redis at scrape time. */
export function registerMetrics(app: App, services: Services): void {
  app.get("/metrics", async (c) => {
    const { metrics, queues } = services;
    await Promise.all(
      queues.all().map(async (q) => {
        try {
          const counts = await q.getJobCounts(...STATES);
          for (const state of STATES) metrics.queueJobs.set({ queue: q.name, state }, counts[state] ?? 0);
        } catch {
          // Redis down: keep the last values; /ready reports the outage.
        }
      }),
    );
    return c.body(await metrics.registry.metrics(), 200, { "content-type": metrics.registry.contentType });
  });
}
