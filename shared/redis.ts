import { Redis } from "ioredis";

/**
 * Producer connections fail fast (no offline queue): when Redis is down an API request must get a
 * 503 at once instead of hanging. Worker connections retry forever (`maxRetriesPerRequest: null`),
 * as BullMQ requires for blocking commands.
 */
export function createRedis(url: string, role: "producer" | "worker"): Redis {
  return new Redis(url, {
    lazyConnect: false,
    connectionName: `payments-${role}`,
    ...(role === "producer"
      ? { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000, commandTimeout: 2000 }
      : { maxRetriesPerRequest: null }),
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
}

/** True when Redis answers a PING within the timeout. */
export async function redisAlive(redis: Redis, timeoutMs = 1000): Promise<boolean> {
  if (redis.status !== "ready") return false;
  try {
    const pong = await Promise.race([
      redis.ping(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error("timeout")), timeoutMs).unref()),
    ]);
    return pong === "PONG";
  } catch {
    return false;
  }
}

/** Waits until the connection is ready (Redis may start after us), logging while it waits. */
export async function waitForRedis(redis: Redis, onWait: () => void, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (redis.status !== "ready") {
    if (Date.now() > deadline) throw new Error("Redis did not become ready in time");
    onWait();
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
