import type { MiddlewareHandler } from "hono";
import { BadRequestError } from "../../shared/errors.ts";
import { quoteJsonNumbers } from "../../shared/json-exact.ts";
import type { AppEnv } from "../env.ts";

/** Money fields: the only ones that accept a JSON number and must read it exactly. */
const MONEY_KEYS = new Set(["amount"]);

/**
 * Where in a parsed JSON value a string (or an object key) holds a NUL character, as a JSON
 * pointer, if anywhere. Iterative, depth-first in document order: a body nested tens of thousands
 * deep must get its 400, not overflow the stack.
 */
function nulPointer(root: unknown): string | null {
  const pending: { value: unknown; at: string; keyHasNul: boolean }[] = [
    { value: root, at: "", keyHasNul: false },
  ];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { value, at, keyHasNul } = next;
    if (keyHasNul) return at;
    if (typeof value === "string") {
      if (value.includes("\0")) return at || "/";
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--)
        pending.push({ value: value[i], at: `${at}/${i}`, keyHasNul: false });
    } else if (value && typeof value === "object") {
      const members = Object.entries(value);
      for (let i = members.length - 1; i >= 0; i--) {
        const [key, member] = members[i]!;
        pending.push({ value: member, at: `${at}/${escapePointer(key)}`, keyHasNul: key.includes("\0") });
      }
    }
  }
  return null;
}

function escapePointer(key: string): string {
  return key.replaceAll("~", "~0").replaceAll("/", "~1");
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
