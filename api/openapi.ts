import { z } from "@hono/zod-openapi";

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
  400: "Malformed request (bad JSON, missing or conflicting Idempotency-Key)",
  401: "Missing or invalid credentials",
  403: "The caller's role does not allow this",
  404: "Not found, or not visible to the caller",
  409: "Conflict with the current state",
  413: "Request body too large",
  422: "Validation failed or the request is not acceptable",
  429: "Too many requests",
  503: "A dependency is unavailable; retry later",
};

export function errorResponses(...statuses: number[]) {
  return Object.fromEntries(
    statuses.map((s) => [
      s,
      {
        description: ERROR_DESCRIPTIONS[s] ?? "Error",
        content: { "application/problem+json": { schema: ProblemSchema } },
      },
    ]),
  );
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
