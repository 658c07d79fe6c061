import type { Context, TypedResponse } from "hono";
import type { IdempotentRequest, IdempotentResult } from "../shared/idempotency.ts";
import { readIdempotencyKey } from "../shared/idempotency.ts";
import type { AppEnv } from "./env.ts";
import { stampedResponse } from "./request-id.ts";

/** The idempotency identity of this request: key (header or body), method, path, parsed body. */
export function idempotentRequest(
  c: Context<AppEnv>,
  body: { idempotency_key?: unknown } | undefined,
): IdempotentRequest {
  return {
    key: readIdempotencyKey(c.req.header("idempotency-key"), body?.idempotency_key),
    method: c.req.method,
    path: c.req.path,
    body: body ?? {},
  };
}

/**
 * Sends a stored (or fresh) idempotent response as recorded: the stored text itself, so a replay is
 * byte-identical by construction (and nothing is parsed and serialized again). Money-moving routes
 * answer 202 (the default `S`), ops actions 200; typed as the JSON `T` it holds.
 */
export function idempotentResponse<T, S extends 200 | 202 = 202>(
  c: Context<AppEnv>,
  result: IdempotentResult,
) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (result.replayed) headers["Idempotent-Replayed"] = "true";
  const res = stampedResponse(c, result.body, result.status, headers);
  return res as Response & TypedResponse<T, S, "json">;
}

/**
 * Declares the header in OpenAPI (as a route's `parameters`); its rules are checked by
 * readIdempotencyKey (400s, not 422s). Not a `request.headers` schema: that would run a validator
 * on every request that copies and sorts all of its headers to check one that is always a string.
 */
export const IdempotencyKeyParameter = {
  name: "idempotency-key",
  in: "header",
  required: false,
  description:
    "Required for money-moving requests (or the body field idempotency_key): 1-255 printable ASCII characters, unique per operation. A replay returns the stored response with Idempotent-Replayed: true.",
  schema: { type: "string" },
} as const;
