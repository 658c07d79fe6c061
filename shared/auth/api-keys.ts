import { audit, byCaller } from "../audit.ts";
import type { Ctx } from "../context.ts";
import { ForbiddenError, NotFoundError } from "../errors.ts";
import { newId } from "../ids.ts";
import { decodeCursor, type Page, pageOf } from "../pagination.ts";
import { hashSecret, randomSecret } from "./tokens.ts";

/**
 * Merchant API keys. The secret is returned once, at creation; only its SHA-256 is stored (what
 * authenticate() looks up) plus a short prefix so the owner can tell keys apart. Every query is
 * scoped to the caller: someone else's key is a 404, even for an admin. Creating and revoking a key
 * appends to the audit log in the same transaction (never the key or its hash).
 */

export interface ApiKeyRow {
  id: string;
  name: string | null;
  prefix: string;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

/** "sk_" and 8 characters of the random part: enough to recognise a key, far too few to guess it. */
const PREFIX_LENGTH = 11;
const KEY_ID = /^key_[0-9A-Z]{26}$/;

/**
 * Keys are merchant credentials: only merchants make them, and a key acts as a merchant at most
 * (authenticate() refuses it once its owner is anything else), so a leaked key can never deposit
 * or act as ops/admin. Admins may still list and revoke their own old keys.
 */
function assertMayCreateKeys(ctx: Ctx): void {
  if (ctx.principal.role !== "merchant")
    throw new ForbiddenError("forbidden", "Only merchants have API keys.");
}

function assertMayManageKeys(ctx: Ctx): void {
  const { role } = ctx.principal;
  if (role !== "merchant" && role !== "admin") {
    throw new ForbiddenError("forbidden", "Only merchants and admins have API keys.");
  }
}

export async function createApiKey(
  ctx: Ctx,
  input: { name?: string | null },
): Promise<{ apiKey: ApiKeyRow; secret: string }> {
  assertMayCreateKeys(ctx);
  // A leaked key must not be able to mint keys that outlive its own revocation.
  if (ctx.principal.apiKeyId) {
    throw new ForbiddenError("api_key_not_allowed", "Create API keys while logged in, not with an API key.");
  }
  const secret = randomSecret("sk_");
  const apiKey = await ctx.sql.begin(async (tx) => {
    const [row] = await tx<ApiKeyRow[]>`
      insert into api_keys (id, user_id, name, prefix, key_hash)
      values (${newId("key")}, ${ctx.principal.userId}, ${input.name ?? null},
              ${secret.slice(0, PREFIX_LENGTH)}, ${hashSecret(secret)})
      returning id, name, prefix, created_at, last_used_at, revoked_at`;
    if (!row) throw new Error("insert returned no row");
    await audit(tx, {
      ...byCaller(ctx),
      action: "api_key.create",
      target: { type: "api_key", id: row.id },
      after: { name: row.name },
    });
    return row;
  });
  return { apiKey, secret };
}

/** The caller's keys, revoked ones included (they say when), newest first. */
export async function listApiKeys(
  ctx: Ctx,
  input: { limit: number; cursor?: string },
): Promise<Page<ApiKeyRow>> {
  assertMayManageKeys(ctx);
  const before = decodeCursor(input.cursor, KEY_ID);
  const rows = await ctx.sql<ApiKeyRow[]>`
    select id, name, prefix, created_at, last_used_at, revoked_at from api_keys
     where user_id = ${ctx.principal.userId}
       ${before ? ctx.sql`and id < ${before}` : ctx.sql``}
     order by id desc
     limit ${input.limit + 1}`;
  return pageOf(
    rows,
    input.limit,
    (r) => r.id,
    (r) => r,
  );
}

export async function getApiKey(ctx: Ctx, id: string): Promise<ApiKeyRow> {
  assertMayManageKeys(ctx);
  const [row] = await ctx.sql<ApiKeyRow[]>`
    select id, name, prefix, created_at, last_used_at, revoked_at from api_keys
     where id = ${id} and user_id = ${ctx.principal.userId}`;
  if (!row) throw new NotFoundError("API key");
  return row;
}

/**
 * Revokes a key: from this commit on, authenticate() no longer finds it. Revoking a revoked key
 * changes nothing (no audit row either) and returns it again (a retried DELETE gets the same answer).
 */
export async function revokeApiKey(ctx: Ctx, id: string): Promise<ApiKeyRow> {
  assertMayManageKeys(ctx);
  const row = await ctx.sql.begin(async (tx) => {
    const [revoked] = await tx<ApiKeyRow[]>`
      update api_keys set revoked_at = now()
       where id = ${id} and user_id = ${ctx.principal.userId} and revoked_at is null
      returning id, name, prefix, created_at, last_used_at, revoked_at`;
    if (revoked) {
      await audit(tx, {
        ...byCaller(ctx),
        action: "api_key.revoke",
        target: { type: "api_key", id: revoked.id },
        before: { name: revoked.name, revoked_at: null },
        after: { name: revoked.name, revoked_at: revoked.revoked_at },
      });
      return revoked;
    }
    const [already] = await tx<ApiKeyRow[]>`
      select id, name, prefix, created_at, last_used_at, revoked_at from api_keys
       where id = ${id} and user_id = ${ctx.principal.userId}`;
    if (!already) throw new NotFoundError("API key");
    return already;
  });
  ctx.log.info({ api_key_id: row.id }, "api key revoked");
  return row;
}
