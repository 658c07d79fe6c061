import type { Principal, Role, Services } from "../context.ts";
import { UnauthorizedError } from "../errors.ts";
import { hashSecret, verifyAccessToken } from "./tokens.ts";

/**
 * Resolves an `Authorization` header to the caller. Bearer tokens are either a merchant API key
 * (`sk_...`, looked up by its hash, acting with its owner's current role) or a JWT access token.
 */
export async function authenticate(services: Services, header: string | undefined): Promise<Principal> {
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  if (!match?.[1])
    throw new UnauthorizedError("unauthorized", "Send a bearer token in the Authorization header.");
  const token = match[1];
  if (token.startsWith("sk_")) {
    // last_used_at is touched at most once a minute: a write on every request would make all of a
    // merchant's concurrent requests queue on that one row.
    const [row] = await services.sql<{ id: string; user_id: string; role: Role }[]>`
      with k as (
        select k.id, k.user_id, u.role, k.last_used_at from api_keys k join users u on u.id = k.user_id
         where k.key_hash = ${hashSecret(token)} and k.revoked_at is null
      ), touched as (
        update api_keys set last_used_at = now()
         where id in (select id from k where last_used_at is null or last_used_at < now() - interval '1 minute')
      )
      select id, user_id, role from k`;
    // A key is a merchant credential: if its owner is no longer a merchant, it no longer works.
    if (row?.role !== "merchant")
      throw new UnauthorizedError("invalid_api_key", "The API key is invalid or revoked.");
    return { userId: row.user_id, role: row.role, apiKeyId: row.id };
  }
  const claims = await verifyAccessToken(services.config, token);
  return { userId: claims.userId, role: claims.role, apiKeyId: null };
}
