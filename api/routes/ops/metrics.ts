import { timingSafeEqual } from "node:crypto";
import { scrapeThroughPrimary, underSupervisor } from "../../../shared/cluster-metrics.ts";
import type { Services } from "../../../shared/context.ts";
import { databaseAlive } from "../../../shared/db/index.ts";
import { pipelineGauges } from "../../../shared/payments/operations.ts";
import { redisAlive } from "../../../shared/redis.ts";
import type { App } from "../../env.ts";
import { problemResponse } from "../../problem.ts";

const STATES = [
  "waiting",
  "active",
  "delayed",
  "failed",
  "completed",
  "prioritized",
  "waiting-children",
] as const;

function bearerMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header?.match(/^Bearer\s+(\S+)\s*$/i)?.[1] ?? "");
  const wanted = Buffer.from(token);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

/**
 * GET /metrics: Prometheus text. Queue depths are read from Redis at scrape time; the backlog, the
 * set-aside operations and the webhook deliveries from Postgres, at most every METRICS_SAMPLE_MS
 * (cheap queries on partial indexes, but not worth running on every scrape of every replica). Under
 * npm start the answer covers every process (shared/cluster-metrics.ts). With METRICS_TOKEN set,
 * only `Authorization: Bearer <token>` may read it.
 */
export function registerMetrics(app: App, services: Services): void {
  const { metrics, queues, config } = services;
  let sampledAt = 0;
  let sampling: Promise<void> | null = null;
  const samplePipeline = async () => {
    const [gauges, postgres, redis] = await Promise.all([
      pipelineGauges(services).catch(() => null),
      databaseAlive(services.sql),
      redisAlive(services.redis),
    ]);
    metrics.dependencyUp.set({ dependency: "postgres" }, postgres ? 1 : 0);
    metrics.dependencyUp.set({ dependency: "redis" }, redis ? 1 : 0);
    if (!gauges) return; // Postgres down: keep the last values; dependency_up says why.
    for (const b of gauges.backlog) {
      metrics.postingBacklog.set({ partition: String(b.partition) }, b.pending);
      metrics.postingOldestPending.set({ partition: String(b.partition) }, b.oldest_pending_seconds ?? 0);
    }
    metrics.setAsideOperations.set(gauges.setAside);
    metrics.webhooksPending.set(gauges.webhooksPending);
    metrics.webhookOldestPending.set(gauges.webhookOldestPendingSeconds);
    sampledAt = Date.now();
  };

  app.get("/metrics", async (c) => {
    if (config.METRICS_TOKEN && !bearerMatches(c.req.header("authorization"), config.METRICS_TOKEN)) {
      return problemResponse(c, {
        status: 401,
        code: "unauthorized",
        detail: "Send the metrics token as Authorization: Bearer <METRICS_TOKEN>.",
        headers: { "WWW-Authenticate": 'Bearer realm="metrics"' },
      });
    }
    if (Date.now() - sampledAt >= config.METRICS_SAMPLE_MS) {
      sampling ??= samplePipeline().finally(() => {
        sampling = null;
      });
    }
    await Promise.all([
      sampling,
      ...queues.all().map(async (q) => {
        try {
          const counts = await q.getJobCounts(...STATES);
          for (const state of STATES) metrics.queueJobs.set({ queue: q.name, state }, counts[state] ?? 0);
        } catch {
          // Redis down: keep the last values; /ready reports the outage.
        }
      }),
    ]);
    // Under npm start: every process's metrics, aggregated by the primary; else (or if it does
    // not answer in time) this process's own.
    const text = underSupervisor() ? await scrapeThroughPrimary(metrics.registry).catch(() => null) : null;
    return c.body(text ?? (await metrics.registry.metrics()), 200, {
      "content-type": metrics.registry.contentType,
    });
  });
}
