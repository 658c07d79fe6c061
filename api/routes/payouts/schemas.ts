import { z } from "@hono/zod-openapi";
import { PAYOUT_STATUSES } from "../../../shared/payments/state.ts";

export const PayoutId = z.object({ id: z.string().min(1).max(64) });

export const PayoutDestinationSchema = z
  .object({
    type: z.literal("bank_account"),
    account_holder: z.string(),
    country: z.string().openapi({ example: "DE" }),
    routing_number: z.string().nullable().openapi({ description: "US accounts only" }),
    last4: z.string().openapi({ description: "Last four characters of the IBAN or account number" }),
  })
  .openapi("PayoutDestination");

export const PayoutSchema = z
  .object({
    id: z.string().openapi({ example: "po_01JD3ZJ9K4T6W8X2Y4Z6A8B0C2" }),
    object: z.literal("payout"),
    status: z.enum(PAYOUT_STATUSES),
    from_account: z.string(),
    amount: z.string().openapi({ example: "50.00" }),
    currency: z.string().openapi({ example: "EUR" }),
    destination: PayoutDestinationSchema,
    description: z.string().nullable(),
    failure_code: z.string().nullable(),
    failure_message: z.string().nullable(),
    transaction_id: z.string().nullable().openapi({ description: "The account -> in transit transaction" }),
    settle_transaction_id: z
      .string()
      .nullable()
      .openapi({ description: "In transit -> paid out, or back to the account" }),
    created_at: z.string(),
    updated_at: z.string(),
    completed_at: z.string().nullable(),
  })
  .openapi("Payout");
