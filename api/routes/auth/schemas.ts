import { z } from "@hono/zod-openapi";
import type { ApiKeyRow } from "../../../shared/auth/api-keys.ts";
import { PASSWORD_MAX, PASSWORD_MIN } from "../../../shared/auth/passwords.ts";
import type { TokenPair } from "../../../shared/auth/sessions.ts";
import { passwordLengthOk, type UserRow } from "../../../shared/auth/users.ts";
import { ROLES } from "../../../shared/context.ts";

/** Request and response shapes of the auth and API key routes, and the row -> object mappers. */

export const Email = z.email().max(254).openapi({ example: "ada@example.com" });

/** Counted in code points, never truncated: what the user typed is what is hashed. */
export const NewPassword = z
  .string()
  .refine(passwordLengthOk, { message: `must be ${PASSWORD_MIN} to ${PASSWORD_MAX} characters` })
  .openapi({ minLength: PASSWORD_MIN, maxLength: PASSWORD_MAX, format: "password" });

export const RefreshTokenBody = z
  .object({ refresh_token: z.string().min(1).max(512).openapi({ example: "rt_..." }) })
  .openapi("RefreshTokenRequest");

export const UserSchema = z
  .object({
    id: z.string().openapi({ example: "usr_01JB8Z5W0Q4T6C9K2M7N3P5R8S" }),
    object: z.literal("user"),
    email: z.string(),
    name: z.string().nullable(),
    role: z.enum(ROLES as [string, ...string[]]),
    created_at: z.string().openapi({ format: "date-time" }),
  })
  .openapi("User");

export function toUser(row: UserRow) {
  return {
    id: row.id,
    object: "user" as const,
    email: row.email,
    name: row.name,
    role: row.role,
    created_at: row.created_at.toISOString(),
  };
}

export const TokenPairSchema = z
  .object({
    access_token: z.string(),
    refresh_token: z.string(),
    token_type: z.literal("Bearer"),
    expires_in: z.number().int().openapi({ description: "Access token lifetime in seconds", example: 900 }),
  })
  .openapi("TokenPair");

export function toTokenPair(pair: TokenPair) {
  return {
    access_token: pair.accessToken,
    refresh_token: pair.refreshToken,
    token_type: "Bearer" as const,
    expires_in: pair.expiresIn,
  };
}

export const ApiKeySchema = z
  .object({
    id: z.string().openapi({ example: "key_01JB8Z5W0Q4T6C9K2M7N3P5R8S" }),
    object: z.literal("api_key"),
    name: z.string().nullable(),
    prefix: z
      .string()
      .openapi({ description: "The key's first characters, for recognising it", example: "sk_Ab12Cd34" }),
    created_at: z.string().openapi({ format: "date-time" }),
    last_used_at: z.string().nullable().openapi({ format: "date-time" }),
    revoked_at: z.string().nullable().openapi({ format: "date-time" }),
  })
  .openapi("ApiKey");

export const NewApiKeySchema = ApiKeySchema.extend({
  key: z.string().openapi({ description: "The secret key. Shown only in this response.", example: "sk_..." }),
}).openapi("NewApiKey");

export function toApiKey(row: ApiKeyRow) {
  return {
    id: row.id,
    object: "api_key" as const,
    name: row.name,
    prefix: row.prefix,
    created_at: row.created_at.toISOString(),
    last_used_at: row.last_used_at?.toISOString() ?? null,
    revoked_at: row.revoked_at?.toISOString() ?? null,
  };
}

export const ApiKeyIdParams = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "id", in: "path" }, example: "key_01JB8Z5W0Q4T6C9K2M7N3P5R8S" }),
});
