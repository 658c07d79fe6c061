import type { Services } from "../context.ts";
import { isTransientDbError } from "../db/index.ts";
import { drainPartition } from "./posting.ts";

/**
 * The safety net under the queues. Postgres knows all accepted work (`operations`); anything still
 * pending after the grace period was not (or not successfully) handled through its queue job: lost
 * enqueue, a job that stalled twice, Redis wiped clean. The reconciler posts such partitions
 * itself; the partition advisory lock keeps that serial with any worker doing the same.
 */
export async function reconcilePostings(services: Services): Promise<number[]> {
  const rows = await services.sql<{ partition: number }[]>`
    select distinct (order_key % ${services.config.POSTING_PARTITIONS})::int as partition from operations
     where status = 'pending' and created_at < clock_timestamp() - make_interval(secs => ${services.config.RECONCILE_GRACE_MS / 1000})`;
  const drained: number[] = [];
  for (const { partition } of rows) {
    try {
      await drainPartition(services, partition);
      drained.push(partition);
    } catch (err) {
      const level = isTransientDbError(err) ? "warn" : "error";
      services.log[level]({ err, partition }, "reconciler could not drain partition");
    }
  }
  if (drained.length) services.log.info({ partitions: drained }, "reconciler posted stale work");
  return drained;
}
