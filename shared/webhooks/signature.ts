/**
 * Standard Webhooks (https://www.standardwebhooks.com) signing. Receivers verify with any
 * Standard Webhooks library, so the byte layout here must match it exactly: the key is the
 * base64-decoded part of the secret after `whsec_`, the signed content is `id.timestamp.body`.
 */
import { createHmac, randomBytes } from "node:crypto";

const SECRET_PREFIX = "whsec_";

export interface SignOptions {
  /** The `webhook-id` (our event id); receivers use it to deduplicate. */
  id: string;
  /** Unix seconds; receivers reject timestamps too far from their clock (replay protection). */
  timestamp: number;
  /** The exact bytes sent; signing a re-serialization would break verification. */
  body: string;
  /** Every active secret (several during a rotation), one signature each. */
  secrets: string[];
}

/** A fresh endpoint secret: 32 random bytes, base64, with the spec's `whsec_` prefix. */
export function generateWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString("base64");
}

/** The HMAC key of a secret, decoded the way the standardwebhooks library does. */
function secretKey(secret: string): Buffer {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  const key = Buffer.from(encoded, "base64");
  if (key.length === 0) throw new Error("webhook secret is empty or not base64");
  return key;
}

/** The `webhook-signature` header value: `v1,<sig>` per secret, space-separated. */
export function signPayload(opts: SignOptions): string {
  if (!Number.isSafeInteger(opts.timestamp)) {
    throw new Error("webhook timestamp must be whole Unix seconds");
  }
  if (opts.secrets.length === 0) throw new Error("at least one webhook secret is required");
  const content = `${opts.id}.${opts.timestamp}.${opts.body}`;
  return opts.secrets
    .map((secret) => `v1,${createHmac("sha256", secretKey(secret)).update(content, "utf8").digest("base64")}`)
    .join(" ");
}

/** All headers of one delivery attempt. */
export function webhookHeaders(opts: SignOptions): Record<string, string> {
  return {
    "webhook-id": opts.id,
    "webhook-timestamp": String(opts.timestamp),
    "webhook-signature": signPayload(opts),
    "content-type": "application/json",
    "user-agent": "payments-webhooks/1",
  };
}
