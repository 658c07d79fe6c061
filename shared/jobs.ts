import { type JobsOptions, Queue } from "bullmq";
import { z } from "zod";
import type { Config } from "./config.ts";
import type { RedisClient } from "./redis.ts";

/**
 * The typed job catalog: every job name, its payload schema and its retry settings, used both to
 * enqueue and to process. Payloads carry ids only; Postgres holds the truth.
 */
export const jobCatalog = {
  /**
   * Post pending operations of one partition (serial: the partition queue has concurrency 1). A
   * nudge: the job drains the partition from Postgres, whatever was accepted, so the partition is
   * all it carries. (Jobs queued by earlier versions also carried an `operationId`: the schema
   * strips unknown keys, so they still parse.)
   */
  post: {
    schema: z.object({ partition: z.number().int().min(0) }),
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

/** Nudges are many and alike: keep a few for the dashboard, and the failed ones. */
const nudgeRetention: JobsOptions = {
  removeOnComplete: { count: 100 },
  removeOnFail: { age: 7 * 24 * 3600, count: 1000 },
};

/**
 * The order key of an account: a stable FNV-1a hash (32 bit, unsigned), stored on each operation
 * with its debited account's key. The same function is `account_order_key` in SQL (migration 007).
 */
export function accountOrderKey(accountNumber: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < accountNumber.length; i++) {
    h ^= accountNumber.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * The partition of an account: its order key modulo the partition count, computed by whoever
 * claims work with their own setting, so all of an account's postings are drained by one partition
 * in acceptance order, also across a change of POSTING_PARTITIONS.
 */
export function partitionOf(accountNumber: string, partitions: number): number {
  return accountOrderKey(accountNumber) % partitions;
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
  /**
   * Wakes the partition's poster: call it after committing work there. Coalesced: at most one job
   * per partition waits in Redis (a nudge while one waits joins it), and a nudge while a drain
   * runs leaves exactly one job to run after it, so work committed during a drain is drained next.
   */
  nudgePosting(partition: number): Promise<void>;
  enqueueDelivery(delivery: { id: string; attempt: number; delayMs?: number }): Promise<void>;
  close(): Promise<void>;
}

/**
 * In-process coalescing in front of BullMQ's deduplication: per partition, at most one `add` on the
 * wire and one scheduled behind it. A nudge joins the scheduled one (it is sent after the caller's
 * commit, so it covers the caller's work); an add already on the wire may have been sent before
 * that commit, so a new one is scheduled behind it.
 */
function coalesced(send: (partition: number) => Promise<void>): (partition: number) => Promise<void> {
  const scheduled = new Map<number, Promise<void>>();
  const onWire = new Map<number, Promise<void>>();
  return (partition) => {
    const joined = scheduled.get(partition);
    if (joined) return joined;
    const before = onWire.get(partition) ?? Promise.resolve();
    const next = before
      .catch(() => {})
      .then(() => {
        scheduled.delete(partition);
        const sending = send(partition);
        onWire.set(partition, sending);
        return sending.finally(() => {
          if (onWire.get(partition) === sending) onWire.delete(partition);
        });
      });
    scheduled.set(partition, next);
    return next;
  };
}

export function createQueues(config: Config, connection: RedisClient): Queues {
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
    nudgePosting: coalesced(async (partition) => {
      const queue = postings[partition];
      if (!queue) throw new Error(`no posting partition ${partition}`);
      const data: JobData<"post"> = { partition };
      await queue.add("post", data, {
        ...jobCatalog.post.opts,
        ...nudgeRetention,
        // One waiting job per partition; one more kept while a job is active, run when it ends.
        deduplication: { id: `drain-${partition}`, keepLastIfActive: true },
      });
    }),
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
