import { type JobsOptions, Queue } from "bullmq";
import type { Redis } from "ioredis";
import { z } from "zod";
import type { Config } from "./config.ts";

/**
 * The typed job catalog: every job name, its payload schema and its retry settings, used both to
 * enqueue and to process. Payloads carry ids only; Postgres holds the truth.
 */
export const jobCatalog = {
  /** Post pending operations of one partition (serial: the partition queue has concurrency 1). */
  post: {
    schema: z.object({ partition: z.number().int().min(0), operationId: z.string().min(1) }),
    opts: { attempts: 12, backoff: { type: "exponential", delay: 250 } },
  },
  /** One webhook delivery attempt; the next attempt is a new job (schedule kept in Postgres). */
  deliver: {
    schema: z.object({ deliveryId: z.string().min(1), attempt: z.number().int().min(1) }),
    opts: { attempts: 3, backoff: { type: "exponential", delay: 1000 } },
  },
} as const satisfies Record<string, { schema: z.ZodType; opts: JobsOptions }>;

export type JobName = keyof typeof jobCatalog;
export type JobData<N extends JobName> = z.infer<(typeof jobCatalog)[N]["schema"]>;

/** Bounded history so Redis memory stays flat, enough kept for the dashboard. */
const retention: JobsOptions = {
  removeOnComplete: { age: 3600, count: 5000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 20000 },
};

/** Stable FNV-1a hash of the debited account: all its postings land in one partition. */
export function partitionOf(accountNumber: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < accountNumber.length; i++) {
    h ^= accountNumber.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % partitions;
}

/** Queue names carry a {hash tag} so each queue's keys share one Redis Cluster slot. */
export const queueNames = {
  posting: (p: number) => `{postings-${p}}`,
  webhooks: "{webhooks}",
};

/** The job id of one delivery attempt (BullMQ custom ids may not contain ':'). */
export function deliveryJobId(deliveryId: string, attempt: number): string {
  return `${deliveryId}-${attempt}`;
}

export interface Queues {
  postings: Queue[];
  webhooks: Queue;
  all(): Queue[];
  enqueuePosting(op: { id: string; partition: number }): Promise<void>;
  enqueueDelivery(delivery: { id: string; attempt: number; delayMs?: number }): Promise<void>;
  close(): Promise<void>;
}

export function createQueues(config: Config, connection: Redis): Queues {
  const opts = { connection, prefix: config.QUEUE_PREFIX, skipWaitingForReady: true };
  const postings = Array.from(
    { length: config.POSTING_PARTITIONS },
    (_, p) => new Queue(queueNames.posting(p), opts),
  );
  const webhooks = new Queue(queueNames.webhooks, opts);
  const all = () => [...postings, webhooks];
  return {
    postings,
    webhooks,
    all,
    async enqueuePosting(op) {
      const queue = postings[op.partition];
      if (!queue) throw new Error(`no posting partition ${op.partition}`);
      const data: JobData<"post"> = { partition: op.partition, operationId: op.id };
      await queue.add("post", data, { ...jobCatalog.post.opts, ...retention, jobId: op.id });
    },
    async enqueueDelivery(d) {
      const data: JobData<"deliver"> = { deliveryId: d.id, attempt: d.attempt };
      await webhooks.add("deliver", data, {
        ...jobCatalog.deliver.opts,
        ...retention,
        jobId: deliveryJobId(d.id, d.attempt),
        delay: d.delayMs ?? 0,
      });
    },
    async close() {
      await Promise.all(all().map((q) => q.close()));
    },
  };
}
