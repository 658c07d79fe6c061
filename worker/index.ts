import type { Worker } from "bullmq";
import type { Services } from "../shared/context.ts";
import { pruneIdempotencyKeys } from "../shared/idempotency.ts";
import { expireDueHolds } from "../shared/payments/holds.ts";
import { reconcilePostings } from "../shared/payments/reconcile.ts";
import { createRedis } from "../shared/redis.ts";
import { dispatchEvents, reconcileDeliveries } from "../shared/webhooks/dispatch.ts";
import { startPostingWorkers } from "./posting.ts";
import { startWebhookWorkers } from "./webhooks.ts";

export interface WorkerHandle {
  close(): Promise<void>;
  /** Runs one reconciler pass now (tests, ops). */
  reconcileNow(): Promise<void>;
}

/** Periodic duties that must not depend on Redis state (a wiped Redis loses job schedulers too). */
type Duty = { name: string; everyMs: number; run: () => Promise<unknown> };

/** Starts every BullMQ worker of this process and the in-process reconciler loop. */
export async function startWorkers(services: Services): Promise<WorkerHandle> {
  const { config, log } = services;
  const connection = createRedis(config.REDIS_URL, "worker", { cluster: config.REDIS_CLUSTER });
  connection.on("error", (err) => log.warn({ err: err.message }, "worker redis connection error"));
  const workers: Worker[] = [
    ...(await startPostingWorkers(services, connection)),
    ...startWebhookWorkers(services, connection),
  ];

  const duties: Duty[] = [
    {
      name: "reconcile-postings",
      everyMs: config.RECONCILE_INTERVAL_MS,
      run: async () => {
        // Redis may have been wiped (queue settings with it): set the partition concurrency again.
        await Promise.all(services.queues.postings.map((q) => q.setGlobalConcurrency(1))).catch(() => {});
        await reconcilePostings(services);
      },
    },
    // Holds past HOLD_TTL_SECONDS: released through the posting path; Postgres decides what is due.
    {
      name: "expire-holds",
      everyMs: Math.min(5_000, config.RECONCILE_INTERVAL_MS),
      run: () => expireDueHolds(services),
    },
    { name: "prune-idempotency-keys", everyMs: 3_600_000, run: () => pruneIdempotencyKeys(services.sql) },
    { name: "dispatch-webhook-events", everyMs: 1_000, run: () => dispatchEvents(services) },
    {
      name: "reconcile-webhook-deliveries",
      everyMs: config.RECONCILE_INTERVAL_MS,
      run: () => reconcileDeliveries(services),
    },
  ];
  const running = new Set<Promise<unknown>>();
  const runDuty = (duty: Duty) => {
    const p = duty
      .run()
      .catch((err) => log.warn({ err, duty: duty.name }, "periodic duty failed"))
      .finally(() => running.delete(p));
    running.add(p);
    return p;
  };
  const timers = duties.map((duty) => {
    let busy = false;
    return setInterval(() => {
      if (busy) return;
      busy = true;
      void runDuty(duty).finally(() => {
        busy = false;
      });
    }, duty.everyMs);
  });
  log.info({ workers: workers.length }, "workers started");

  return {
    async reconcileNow() {
      for (const duty of duties) await duty.run();
    },
    async close() {
      for (const t of timers) clearInterval(t);
      // Let each worker finish its current job, then stop.
      await Promise.all(workers.map((w) => w.close()));
      await Promise.all(running);
      connection.disconnect();
    },
  };
}
