import { setTimeout } from "node:timers/promises";
import { UnrecoverableError, Worker } from "bullmq";
import type { Services } from "../shared/context.ts";
import { jobCatalog, queueNames } from "../shared/jobs.ts";
import { drainPartition } from "../shared/payments/posting.ts";
import type { RedisClient } from "../shared/redis.ts";

/**
 * One worker per posting partition. Each partition queue has a global concurrency of 1, so across
 * every worker process a partition is handled by one job at a time; the job drains the partition
 * from Postgres in acceptance order, so a job is only a nudge and duplicates are harmless.
 */
export async function startPostingWorkers(services: Services, connection: RedisClient): Promise<Worker[]> {
  const { config, queues, log } = services;
  await Promise.all(queues.postings.map((q) => q.setGlobalConcurrency(1)));
  return queues.postings.map((_, partition) => {
    const worker = new Worker(
      queueNames.posting(partition),
      async (job) => {
        const parsed = jobCatalog.post.schema.safeParse(job.data);
        if (!parsed.success || parsed.data.partition !== partition) {
          throw new UnrecoverableError(`malformed posting job ${job.id}`);
        }
        // Let a little more work arrive first: one larger batch costs less than many small ones.
        if (config.POSTING_LINGER_MS > 0) await setTimeout(config.POSTING_LINGER_MS);
        return { posted: await drainPartition(services, partition) };
      },
      {
        connection,
        prefix: config.QUEUE_PREFIX,
        concurrency: 1,
        // A killed worker's job is detected as stalled quickly, so its partition is not held long.
        lockDuration: 10_000,
        stalledInterval: 5_000,
        maxStalledCount: 2,
      },
    );
    worker.on("failed", (job, err) =>
      log.warn(
        { job_id: job?.id, partition, err: err.message, attempts: job?.attemptsMade },
        "posting job failed",
      ),
    );
    worker.on("error", (err) => log.warn({ err: err.message, partition }, "posting worker error"));
    return worker;
  });
}
