/**
 * REDIS_URL: one `redis://` (or `rediss://` for TLS) URL, or, for a Redis Cluster, several of them
 * separated by commas, each a full URL naming one seed node:
 *
 *   redis://:secret@10.0.0.1:6379,redis://:secret@10.0.0.2:6379,redis://:secret@10.0.0.3:6379
 *
 * The client learns the rest of the cluster from whichever seed answers. Credentials and TLS apply
 * to every node, so the seeds must agree on them (credentials may be given on the first seed only).
 */

export interface RedisSeed {
  host: string;
  port: number;
}

export interface RedisTarget {
  seeds: RedisSeed[];
  tls: boolean;
  username: string | null;
  password: string | null;
  /** The database number in the URL's path (a cluster has only database 0). */
  db: number;
}

/** Parses REDIS_URL; throws an Error whose message completes "REDIS_URL ...". */
export function parseRedisUrl(value: string): RedisTarget {
  const parts = value.split(",").map((p) => p.trim());
  const urls = parts.map((part) => {
    if (!/^rediss?:\/\//.test(part)) {
      throw new Error(
        parts.length > 1
          ? `must be a redis:// URL, or several separated by commas, each with its scheme (not "${part}")`
          : "must be a redis:// URL",
      );
    }
    let url: URL;
    try {
      url = new URL(part);
    } catch {
      throw new Error(`is not a valid URL ("${part.replace(/\/\/[^@/]*@/, "//***@")}")`);
    }
    if (!url.hostname) throw new Error("must name a host");
    return url;
  });
  const first = urls[0]!;
  const credentials = (u: URL) => `${u.username}:${u.password}`;
  for (const url of urls.slice(1)) {
    if (url.protocol !== first.protocol) throw new Error("seeds must all use redis:// or all rediss://");
    if ((url.username || url.password) && credentials(url) !== credentials(first)) {
      throw new Error("seeds must carry the same credentials (or give them on the first seed only)");
    }
  }
  const dbPath = first.pathname.replace(/^\//, "");
  if (!/^\d*$/.test(dbPath)) throw new Error("path must be a database number");
  return {
    seeds: urls.map((u) => ({ host: u.hostname.replace(/^\[(.*)\]$/, "$1"), port: Number(u.port || 6379) })),
    tls: first.protocol === "rediss:",
    username: first.username ? decodeURIComponent(first.username) : null,
    password: first.password ? decodeURIComponent(first.password) : null,
    db: Number(dbPath || 0),
  };
}
