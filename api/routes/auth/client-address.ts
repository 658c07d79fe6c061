import { getConnInfo } from "@hono/node-server/conninfo";
import type { Context } from "hono";

/** The key used when the transport gives no peer address (app.request in tests has no socket). */
export const UNKNOWN_ADDRESS = "unknown";

/**
 * The TCP peer address, for per-address login throttling. Deliberately not X-Forwarded-For: any
 * client can write that header, so trusting it would let an attacker pick a fresh bucket per guess.
 * Never throws: without a socket (or on another runtime) every caller shares the fixed key.
 */
export function clientAddress(c: Context): string {
  try {
    return getConnInfo(c).remote.address || UNKNOWN_ADDRESS;
  } catch {
    return UNKNOWN_ADDRESS;
  }
}
