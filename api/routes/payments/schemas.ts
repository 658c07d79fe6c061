import { z } from "@hono/zod-openapi";
import { PAYMENT_STATUSES } from "../../../shared/payments/state.ts";

export const PaymentSchema = z
  .object({
    id: z.string().openapi({ example: "pay_01JD3ZJ9K4T6W8X2Y4Z6A8B0C2" }),
    object: z.literal("payment"),
    type: z.enum(["payment", "transfer", "deposit"]),
    status: z.enum(PAYMENT_STATUSES),
    from_account: z.string(),
    to_account: z.string().nullable().openapi({ description: "The payee; null for a split payment" }),
    splits: z
      .array(z.object({ to_account: z.string(), amount: z.string().openapi({ example: "30.00" }) }))
      .nullable()
      .openapi({
        description:
          "A split payment's payees in order (the first is the merchant of record); null for an ordinary payment",
      }),
    amount: z.string().openapi({ example: "50.00" }),
    currency: z.string().openapi({ example: "USD" }),
    capture_method: z.enum(["automatic", "manual"]),
    amount_capturable: z.string(),
    amount_captured: z.string(),
    amount_refunded: z.string(),
    description: z.string().nullable(),
    metadata: z.record(z.string(), z.string()),
    failure_code: z.string().nullable(),
    failure_message: z.string().nullable(),
    transaction_id: z.string().nullable(),
    hold_expires_at: z.string().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
    completed_at: z.string().nullable(),
  })
  .openapi("Payment");

export const Metadata = z
  .record(z.string().min(1).max(40), z.string().max(500))
  .refine((m) => Object.keys(m).length <= 50, "at most 50 keys")
  .openapi({ description: "Up to 50 string key/value pairs", example: { order_id: "1234" } });

export const Description = z.string().max(1000);
export const AccountNumber = z.string().min(1).max(64).openapi({ example: "ACC_7K2M9Q4R8T1V3X5Z" });
