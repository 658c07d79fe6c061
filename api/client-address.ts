import { getConnInfo } from "@hono/node-server/conninfo";
import type { Context } from "hono";
import { expandIPv6 } from "../shared/net.ts";
import type { AppEnv } from "./env.ts";

/** The key used when the transport gives no peer address (app.request in tests has no socket). */
export const UNKNOWN_ADDRESS = "unknown";

/** One throttling bucket per IPv6 /64: a single host usually owns a whole /64. */
function bucket(address: string): string {
  const bare = address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, "");
  const groups = expandIPv6(bare);
  if (!groups) return bare;
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(":")}::/64`;
}

/**
 * The client's address, for per-address login throttling. Behind TRUST_PROXY_HOPS proxies (load
 * balancers that each append the address they saw to X-Forwarded-For) it is the entry that many
 * places from the right: entries further left were written by the client and are never trusted.
 * With no trusted proxies it is the TCP peer. Never throws: without a socket every caller shares
 * a fixed key.
 */
export function clientAddress(c: Context<AppEnv>): string {
  const hops = c.get("services")?.config.TRUST_PROXY_HOPS ?? 0;
  if (hops > 0) {
    const forwarded = (c.req.header("x-forwarded-for") ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    const entry = forwarded[forwarded.length - hops];
    if (entry) return bucket(entry);
  }
  try {
    return bucket(getConnInfo(c).remote.address || UNKNOWN_ADDRESS);
  } catch {
    return UNKNOWN_ADDRESS;
  }
}
