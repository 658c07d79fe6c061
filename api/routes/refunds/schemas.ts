import { z } from "@hono/zod-openapi";
import { REFUND_STATUSES } from "../../../shared/payments/state.ts";

export const RefundSchema = z
  .object({
    id: z.string().openapi({ example: "re_01JD3ZJ9K4T6W8X2Y4Z6A8B0C2" }),
    object: z.literal("refund"),
    payment_id: z.string(),
    amount: z.string().openapi({ example: "5.00" }),
    currency: z.string(),
    status: z.enum(REFUND_STATUSES),
    reason: z.enum(["duplicate", "fraudulent", "requested_by_customer"]).nullable(),
    failure_code: z.string().nullable(),
    failure_message: z.string().nullable(),
    transaction_id: z.string().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
    completed_at: z.string().nullable(),
  })
  .openapi("Refund");
