import { z } from "@hono/zod-openapi";
import { OPERATION_STATUSES } from "../../../shared/payments/operations.ts";
import { OPERATION_KINDS } from "../../../shared/payments/state.ts";

export const OperationId = z.object({ id: z.string().min(1).max(64) });

export const OperationSchema = z
  .object({
    object: z.literal("operation"),
    id: z.string().openapi({ example: "op_01J9Z8X7W6V5T4S3R2Q1P0N9M8" }),
    kind: z.enum(OPERATION_KINDS),
    status: z.enum(OPERATION_STATUSES),
    payment_id: z.string().nullable(),
    payout_id: z.string().nullable(),
    refund_id: z.string().nullable(),
    error: z.string().nullable().openapi({ description: "Why posting it failed, for a set-aside operation" }),
    retries: z.number().int(),
    created_at: z.string(),
    set_aside_at: z.string().nullable(),
    resolved_at: z.string().nullable(),
    resolved_by: z.string().nullable(),
    resolution: z.string().nullable(),
  })
  .openapi("Operation");

export const PartitionBacklogSchema = z
  .object({
    partition: z.number().int(),
    pending: z.number().int().openapi({ description: "Accepted operations not yet posted" }),
    oldest_pending_seconds: z.number().nullable(),
    last_drained_at: z.string().nullable(),
  })
  .openapi("PartitionBacklog");
