import { Cluster, Redis } from "ioredis";
import { parseRedisUrl } from "./redis-url.ts";

/**
 * A connection to Redis: one server, or a Redis Cluster (REDIS_CLUSTER). Both speak the same
 * commands (a cluster client routes each by its key's slot; every queue's keys share a slot
 * through the {hash tag} in its name), so nothing but this file needs to know which it is.
 */
export type RedisClient = Redis | Cluster;

export type RedisRole = "producer" | "worker";

/**
 * Producer connections fail fast (no offline queue): when Redis is down an API request must get a
 * 503 at once instead of hanging. Worker connections retry forever (`maxRetriesPerRequest: null`),
 * as BullMQ requires for blocking commands.
 *
 * With `cluster`, a cluster client seeded from REDIS_URL's comma-separated seeds: the per-role
 * options go to each node's connection (`redisOptions`, with the URL's credentials and TLS), the
 * offline queue and reconnecting to the cluster client itself.
 */
export function createRedis(url: string, role: RedisRole, opts: { cluster?: boolean } = {}): RedisClient {
  const retryStrategy = (times: number) => Math.min(times * 200, 2000);
  const perRole =
    role === "producer"
      ? { maxRetriesPerRequest: 1, connectTimeout: 2000, commandTimeout: 2000 }
      : { maxRetriesPerRequest: null };
  const connectionName = `payments-${role}`;
  if (!opts.cluster) {
    return new Redis(url, {
      lazyConnect: false,
      connectionName,
      ...perRole,
      ...(role === "producer" ? { enableOfflineQueue: false } : {}),
      retryStrategy,
    });
  }
  const target = parseRedisUrl(url);
  return new Cluster(target.seeds, {
    lazyConnect: false,
    // "ready" only once CLUSTER INFO says the cluster serves every slot.
    enableReadyCheck: true,
    maxRedirections: 16,
    enableOfflineQueue: role !== "producer",
    clusterRetryStrategy: retryStrategy,
    redisOptions: {
      connectionName,
      ...perRole,
      ...(target.username ? { username: target.username } : {}),
      ...(target.password ? { password: target.password } : {}),
      ...(target.tls ? { tls: {} } : {}),
    },
  });
}

/** True when Redis (for a cluster: the node a PING is routed to) answers within the timeout. */
export async function redisAlive(redis: RedisClient, timeoutMs = 1000): Promise<boolean> {
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
export async function waitForRedis(
  redis: RedisClient,
  onWait: () => void,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (redis.status !== "ready") {
    if (Date.now() > deadline) throw new Error("Redis did not become ready in time");
    onWait();
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
