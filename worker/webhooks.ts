import { UnrecoverableError, Worker } from "bullmq";
import type { Services } from "../shared/context.ts";
import { jobCatalog, queueNames } from "../shared/jobs.ts";
import type { RedisClient } from "../shared/redis.ts";
import { deliverAttempt } from "../shared/webhooks/deliver.ts";

/** Deliveries in flight per worker process: they mostly wait on receivers, not on us. */
const CONCURRENCY = 20;

/**
 * The webhook delivery worker: each job is one attempt of one delivery. A job throws only on
 * unexpected errors (Postgres unreachable...), which BullMQ retries per the job catalog; receiver
 * failures are outcomes recorded in Postgres, with the next attempt scheduled as a new job.
 */
export function startWebhookWorkers(services: Services, connection: RedisClient): Worker[] {
  const { config, log } = services;
  const worker = new Worker(
    queueNames.webhooks,
    async (job) => {
      const parsed = jobCatalog.deliver.schema.safeParse(job.data);
      if (job.name !== "deliver" || !parsed.success) {
        throw new UnrecoverableError(`malformed webhook job ${job.id}`);
      }
      return { outcome: await deliverAttempt(services, parsed.data) };
    },
    {
      connection,
      prefix: config.QUEUE_PREFIX,
      concurrency: CONCURRENCY,
      // A killed worker's delivery is seen as stalled within seconds and run again (same
      // webhook-id). The lock is renewed while a slow receiver keeps an attempt busy.
      lockDuration: 10_000,
      stalledInterval: 5_000,
      maxStalledCount: 2,
    },
  );
  worker.on("failed", (job, err) =>
    log.warn(
      { job_id: job?.id, delivery_id: job?.data?.deliveryId, err: err.message, attempts: job?.attemptsMade },
      "webhook job failed",
    ),
  );
  worker.on("error", (err) => log.warn({ err: err.message }, "webhook worker error"));
  return [worker];
}
