import { createRoute, z } from "@hono/zod-openapi";
import { listAudit } from "../../../shared/audit.ts";
import { type App, ctxOf } from "../../env.ts";
import { requireAuth } from "../../middleware/auth.ts";
import { errorResponses, jsonResponse, listOf, PaginationQuery, security } from "../../openapi.ts";

/** Ids are prefixed strings (`usr_...`, `we_...`); actions `resource.verb`, as the table requires. */
const Id = z.string().regex(/^[a-z]+_[0-9A-Za-z]{1,60}$/, "must be an id such as usr_...");
const Name = z.string().regex(/^[a-z_]{1,64}$/, "must be lowercase letters and underscores");

const Query = PaginationQuery.extend({
  actor_id: Id.optional().openapi({
    description: "Only this actor's actions",
    example: "usr_01JD3ZJ9K4T6W8X2Y4Z6A8B0C2",
  }),
  action: z
    .string()
    .regex(/^[a-z_]{1,64}\.[a-z_]{1,64}$/, "must be resource.verb, e.g. api_key.revoke")
    .optional()
    .openapi({ example: "webhook_endpoint.update" }),
  target_type: Name.optional().openapi({ example: "webhook_endpoint" }),
  target_id: Id.optional().openapi({
    description: "Needs target_type",
    example: "we_01JD3ZJ9K4T6W8X2Y4Z6A8B0C2",
  }),
}).refine((q) => q.target_id === undefined || q.target_type !== undefined, {
  message: "target_id needs target_type",
  path: ["target_id"],
});

const Json = z
  .unknown()
  .openapi({ description: "The target as it was (before) or became (after), where useful" });

const AuditEntrySchema = z
  .object({
    id: z.string().openapi({ example: "aud_01JD3ZJ9K4T6W8X2Y4Z6A8B0C2" }),
    object: z.literal("audit_entry"),
    actor_id: z.string().openapi({ description: "The user who acted" }),
    actor_role: z.string().openapi({ description: "Their role at the time", example: "admin" }),
    api_key_id: z.string().nullable().openapi({ description: "The API key they acted with, if any" }),
    action: z.string().openapi({ example: "api_key.revoke" }),
    target_type: z.string().openapi({ example: "api_key" }),
    target_id: z.string().openapi({ example: "key_01JD3ZJ9K4T6W8X2Y4Z6A8B0C2" }),
    request_id: z.string().nullable().openapi({ description: "The x-request-id of the request that acted" }),
    before: Json.nullable(),
    after: Json.nullable(),
    created_at: z.string(),
  })
  .openapi("AuditEntry");

const route = createRoute({
  method: "get",
  path: "/api/v1/ops/audit-log",
  tags: ["Ops"],
  summary: "The audit log of admin, ops and security actions (admin), newest first",
  security,
  middleware: [requireAuth("admin")] as const,
  request: { query: Query },
  responses: {
    200: jsonResponse(listOf(AuditEntrySchema, "AuditEntryList"), "A page of audit entries"),
    ...errorResponses(401, 403, 422),
  },
});

export function registerAuditLog(app: App): void {
  app.openapi(route, async (c) => c.json(await listAudit(ctxOf(c), c.req.valid("query")), 200));
}
