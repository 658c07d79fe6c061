import type { MiddlewareHandler } from "hono";
import { BadRequestError } from "../../shared/errors.ts";
import { quoteJsonNumbers } from "../../shared/json-exact.ts";
import type { AppEnv } from "../env.ts";

/** Money fields: the only ones that accept a JSON number and must read it exactly. */
const MONEY_KEYS = new Set(["amount"]);

/** Where in a parsed JSON value a string holds a NUL character (JSON pointer), if anywhere. */
function nulPointer(value: unknown, at = ""): string | null {
  if (typeof value === "string") return value.includes("\0") ? at || "/" : null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = nulPointer(value[i], `${at}/${i}`);
      if (found) return found;
    }
    return null;
  }
  if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      const here = `${at}/${k.replaceAll("~", "~0").replaceAll("/", "~1")}`;
      if (k.includes("\0")) return here;
      const found = nulPointer(v, here);
      if (found) return found;
    }
  }
  return null;
}

function nulError(pointer: string): BadRequestError {
  return new BadRequestError(
    "invalid_characters",
    "The request contains a NUL character, which no field accepts.",
    {
      errors: [{ pointer, detail: "must not contain NUL (\\u0000)" }],
    },
  );
}

/**
 * Request hygiene before validation. NUL characters are refused everywhere (Postgres cannot store
 * them in text, so they would otherwise surface as server errors). JSON numbers under money keys
 * reach the validators as their exact source text, so an amount sent as a number (`50.005`,
 * `1.0000000000000001`) is judged on what the client wrote, not on a lossy double; numbers
 * anywhere else stay numbers (so `{"password": 12345678}` is still a type error).
 */
export const exactJson: MiddlewareHandler<AppEnv> = async (c, next) => {
  let url: string;
  try {
    url = decodeURIComponent(c.req.url);
  } catch {
    throw new BadRequestError("malformed_request", "The URL is not correctly percent-encoded.");
  }
  if (url.includes("\0")) throw nulError(new URL(c.req.url).search ? "/query" : "/path");
  const type = c.req.header("content-type") ?? "";
  if (/^application\/([a-z0-9.+-]*\+)?json/i.test(type) && c.req.method !== "GET") {
    const text = await c.req.text();
    const quoted = quoteJsonNumbers(text, (key) => key !== null && MONEY_KEYS.has(key));
    if (text.includes("\0") || /\\u0000/i.test(text)) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(quoted);
      } catch {
        parsed = undefined; // malformed: the validator answers 400
      }
      const pointer = parsed === undefined ? null : nulPointer(parsed);
      if (pointer) throw nulError(pointer);
    }
    // Hono keeps read bodies as promises keyed by kind; json() parses the cached text.
    (c.req.bodyCache as Record<string, unknown>).text = Promise.resolve(quoted);
  }
  await next();
};
