import type { MiddlewareHandler } from "hono";
import { quoteJsonNumbers } from "../../shared/json-exact.ts";
import type { AppEnv } from "../env.ts";

/** Money fields: the only ones that accept a JSON number and must read it exactly. */
const MONEY_KEYS = new Set(["amount"]);

/**
 * JSON numbers under money keys reach the validators as their exact source text, so an amount
 * sent as a number (`50.005`, `1.0000000000000001`) is judged on what the client wrote, not on a
 * lossy double. Numbers anywhere else stay numbers (so `{"password": 12345678}` is still a type
 * error).
 */
export const exactJson: MiddlewareHandler<AppEnv> = async (c, next) => {
  const type = c.req.header("content-type") ?? "";
  if (/^application\/([a-z0-9.+-]*\+)?json/i.test(type) && c.req.method !== "GET") {
    const text = await c.req.text();
    // Hono keeps read bodies as promises keyed by kind; json() parses the cached text.
    (c.req.bodyCache as Record<string, unknown>).text = Promise.resolve(
      quoteJsonNumbers(text, (key) => key !== null && MONEY_KEYS.has(key)),
    );
  }
  await next();
};
