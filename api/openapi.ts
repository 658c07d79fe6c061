import { z } from "@hono/zod-openapi";
import type { App } from "./env.ts";

/** Shared OpenAPI pieces: the problem schema, error responses, pagination and money fields. */

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string().openapi({ example: "validation_failed" }),
    request_id: z.string(),
    errors: z.array(z.object({ pointer: z.string(), detail: z.string() })),
  })
  .openapi("Problem");

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: "Malformed request: bad JSON, a malformed percent-encoding or a NUL character in the path, query or body, or a missing or conflicting Idempotency-Key",
  401: "Missing or invalid credentials",
  403: "The caller's role does not allow this",
  404: "Not found, or not visible to the caller",
  409: "Conflict with the current state",
  413: "Request body larger than 64 KiB",
  415: "The body is not JSON: send it with Content-Type: application/json",
  422: "Validation failed (including an over-long id in the path) or the request is not acceptable",
  429: "Too many requests: over the caller's rate limit (see Retry-After and RateLimit)",
  503: "The database or the queue is unavailable; nothing was changed, retry after Retry-After seconds",
};

const RETRY_AFTER = {
  description: "Seconds to wait before retrying",
  schema: { type: "integer", minimum: 1 },
} as const;

/** Headers an error response carries besides the problem body. */
const ERROR_HEADERS: Record<number, Record<string, { description: string; schema: object }>> = {
  415: {
    "Accept-Post": { description: "The media type to send (POST)", schema: { type: "string" } },
  },
  429: {
    "Retry-After": RETRY_AFTER,
    RateLimit: {
      description: 'Remaining quota of the limit that refused the request, e.g. `"writes";r=0;t=1`',
      schema: { type: "string" },
    },
    "RateLimit-Policy": {
      description: 'The limit, e.g. `"writes";q=100;w=1` (IETF draft-ietf-httpapi-ratelimit-headers)',
      schema: { type: "string" },
    },
  },
  503: { "Retry-After": RETRY_AFTER },
};

function errorResponse(status: number) {
  return {
    description: ERROR_DESCRIPTIONS[status] ?? "Error",
    ...(ERROR_HEADERS[status] ? { headers: ERROR_HEADERS[status] } : {}),
    content: { "application/problem+json": { schema: ProblemSchema } },
  };
}

export function errorResponses(...statuses: number[]) {
  return Object.fromEntries(statuses.map((s) => [s, errorResponse(s)]));
}

/**
 * Adds to every documented operation the errors that the app's shared layers can answer whatever
 * the route: hygiene (400) and the body limit (413) everywhere; the JSON body check (415, 400) where
 * there is a body; id validation and lookup (422, 404) where the path has a parameter; the rate
 * limits (429), the database or queue being down (503) and authentication (401) under /api/v1. A
 * route's own description of a status wins. Run after every route is registered.
 */
export function documentSharedErrors(registry: App["openAPIRegistry"]): void {
  for (const definition of registry.definitions) {
    if (definition.type !== "route") continue;
    const route = definition.route;
    const statuses = [400, 413];
    if (route.request?.body) statuses.push(415);
    if (route.request?.params) statuses.push(404, 422);
    if (route.path.startsWith("/api/v1/")) statuses.push(429, 503);
    if ((route.security ?? []).length > 0) statuses.push(401);
    for (const status of statuses) route.responses[status] ??= errorResponse(status);
  }
}

export function jsonBody<T extends z.ZodType>(schema: T, description = "Request body") {
  return { required: true, description, content: { "application/json": { schema } } };
}

export function jsonResponse<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } };
}

/** Amounts leave as decimal strings; they come in as a string or a JSON number (read exactly). */
export const AmountInput = z
  .union([z.string(), z.number()], { error: 'must be a decimal amount, e.g. "50.00"' })
  .openapi({ description: 'Decimal amount in major units, e.g. "50.00"', example: "50.00" });

export const PaginationQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20).openapi({ example: 20 }),
  cursor: z.string().min(1).max(200).optional(),
});

export function listOf<T extends z.ZodType>(item: T, name: string) {
  return z
    .object({ data: z.array(item), has_more: z.boolean(), next_cursor: z.string().nullable() })
    .openapi(name);
}

export const security = [{ bearerAuth: [] }];
