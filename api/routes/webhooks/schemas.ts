import { z } from "@hono/zod-openapi";
import { EVENT_TYPES } from "../../../shared/webhooks/events.ts";

export const EventType = z.enum(EVENT_TYPES).openapi({ example: "payment.succeeded" });

export const IdParams = z.object({ id: z.string().min(1).max(64) });

export const EventSchema = z
  .object({
    id: z.string().openapi({ example: "evt_01JD3ZJ9K4T6W8X2Y4Z6A8B0C2" }),
    object: z.literal("event"),
    type: EventType,
    created_at: z.string(),
    data: z.object({
      object: z
        .record(z.string(), z.unknown())
        .openapi({ description: "The resource as it was when the event happened (a payment, a refund)" }),
    }),
  })
  .openapi("Event");

/** An event type, or "*" for every type (alone). */
export const EventFilter = z.union([EventType, z.literal("*")]).openapi({ example: "payment.succeeded" });

export const EventFilterList = z
  .array(EventFilter)
  .min(1)
  .max(EVENT_TYPES.length + 1)
  .openapi({ description: 'Event types to receive, or ["*"] for all', example: ["payment.succeeded"] });

export const WebhookUrl = z.string().min(1).max(2048).openapi({
  description: "http(s) URL; private, loopback and link-local targets are refused",
  example: "https://example.com/webhooks",
});

export const WebhookDescription = z.string().max(1000);

export const EndpointSchema = z
  .object({
    id: z.string().openapi({ example: "we_01JD3ZJ9K4T6W8X2Y4Z6A8B0C2" }),
    object: z.literal("webhook_endpoint"),
    url: z.string(),
    events: z.array(EventFilter),
    description: z.string().nullable(),
    enabled: z.boolean(),
    disabled_reason: z.string().nullable(),
    previous_secret_expires_at: z
      .string()
      .nullable()
      .openapi({ description: "Until then the secret replaced by the last rotation also signs deliveries" }),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("WebhookEndpoint");

export const EndpointWithSecretSchema = EndpointSchema.extend({
  secret: z.string().openapi({
    description: "The signing secret (Standard Webhooks). Shown only in this response.",
    example: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  }),
}).openapi("WebhookEndpointWithSecret");

export const DeletedEndpointSchema = z
  .object({ id: z.string(), object: z.literal("webhook_endpoint"), deleted: z.literal(true) })
  .openapi("DeletedWebhookEndpoint");

export const AttemptSchema = z
  .object({
    delivery_id: z.string().openapi({ example: "whd_01JD3ZJ9K4T6W8X2Y4Z6A8B0C2" }),
    event_id: z.string(),
    attempt: z.number().int().openapi({ description: "1 for the first attempt of a delivery" }),
    status_code: z.number().int().nullable().openapi({ description: "null when there was no answer" }),
    error: z.string().nullable().openapi({ description: "Why there was no answer (timeout, refused...)" }),
    duration_ms: z.number().int(),
    created_at: z.string(),
  })
  .openapi("WebhookAttempt");

export const DeliverySchema = z
  .object({
    id: z.string().openapi({ example: "whd_01JD3ZJ9K4T6W8X2Y4Z6A8B0C2" }),
    object: z.literal("webhook_delivery"),
    event_id: z.string(),
    endpoint_id: z.string(),
    status: z.enum(["pending", "delivered", "failed", "canceled"]),
    attempt: z.number().int(),
    next_attempt_at: z.string().nullable(),
    created_at: z.string(),
  })
  .openapi("WebhookDelivery");
