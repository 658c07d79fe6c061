import type { Config } from "../config.ts";
import type { Role, Services } from "../context.ts";
import type { Db, Tx } from "../db/index.ts";
import { UnauthorizedError } from "../errors.ts";
import { newId } from "../ids.ts";
import { hashSecret, randomSecret, signAccessToken } from "./tokens.ts";

/**
 * Sessions: a short-lived JWT access token plus an opaque, single-use refresh token. Each refresh
 * spends the presented token and issues the next one of its family; a spent token presented again
 * revokes the whole family (RFC 9700 §4.14 reuse detection), since either the client or a thief
 * holds a copy and we cannot tell which.
 */

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  /** Access token lifetime in seconds. */
  expiresIn: number;
}

/** First key of the two-int advisory lock space; the second is the family's hash. */
const FAMILY_LOCK = 727_274_003;

/**
 * Serializes everything that touches one family (refresh, revoke) for the rest of the transaction,
 * so a logout cannot miss a token that a concurrent refresh is about to issue.
 */
async function lockFamily(tx: Tx, familyId: string): Promise<void> {
  await tx`select pg_advisory_xact_lock(${FAMILY_LOCK}, hashtext(${familyId}))`;
}

async function revokeFamily(tx: Tx, familyId: string): Promise<void> {
  await tx`update refresh_tokens set revoked_at = now() where family_id = ${familyId} and revoked_at is null`;
}

async function insertRefreshToken(
  db: Db,
  config: Config,
  userId: string,
  familyId: string | null,
): Promise<string> {
  const token = randomSecret("rt_");
  const id = newId("rt");
  await db`
    insert into refresh_tokens (id, family_id, user_id, token_hash, expires_at)
    values (${id}, ${familyId ?? id}, ${userId}, ${hashSecret(token)},
            now() + make_interval(secs => ${config.REFRESH_TOKEN_TTL_SECONDS}))`;
  return token;
}

async function pair(config: Config, user: { id: string; role: Role }, refreshToken: string) {
  const accessToken = await signAccessToken(config, { userId: user.id, role: user.role });
  return { accessToken, refreshToken, expiresIn: config.ACCESS_TOKEN_TTL_SECONDS };
}

/** A new session (a new family) for a user who just proved who they are. */
export async function startSession(services: Services, user: { id: string; role: Role }): Promise<TokenPair> {
  const refreshToken = await insertRefreshToken(services.sql, services.config, user.id, null);
  return pair(services.config, user, refreshToken);
}

type RefreshOutcome =
  | { kind: "ok"; userId: string; role: Role; refreshToken: string }
  | { kind: "unknown" | "reused" | "revoked" | "expired" };

/** Spends a refresh token and returns the next pair of its family. */
export async function refreshSession(services: Services, refreshToken: string): Promise<TokenPair> {
  const { sql, config } = services;
  const tokenHash = hashSecret(refreshToken);
  const outcome = await sql.begin(async (tx): Promise<RefreshOutcome> => {
    const [found] = await tx<{ family_id: string }[]>`
      select family_id from refresh_tokens where token_hash = ${tokenHash}`;
    if (!found) return { kind: "unknown" };
    await lockFamily(tx, found.family_id);
    // Conditional spend: of two concurrent refreshes with one token, exactly one gets a row back.
    const [spent] = await tx<{ user_id: string; role: Role }[]>`
      update refresh_tokens t set used_at = now()
        from users u
       where t.token_hash = ${tokenHash} and t.used_at is null and t.revoked_at is null
         and t.expires_at > now() and u.id = t.user_id
      returning t.user_id, u.role`;
    if (spent) {
      const next = await insertRefreshToken(tx, config, spent.user_id, found.family_id);
      return { kind: "ok", userId: spent.user_id, role: spent.role, refreshToken: next };
    }
    const [state] = await tx<{ used: boolean; revoked: boolean }[]>`
      select used_at is not null as used, revoked_at is not null as revoked
        from refresh_tokens where token_hash = ${tokenHash}`;
    if (state?.revoked) return { kind: "revoked" };
    if (state?.used) {
      await revokeFamily(tx, found.family_id);
      return { kind: "reused" };
    }
    return { kind: "expired" };
  });
  // Thrown after the transaction: a reuse must commit the family's revocation first.
  switch (outcome.kind) {
    case "ok":
      return pair(config, { id: outcome.userId, role: outcome.role }, outcome.refreshToken);
    case "expired":
      throw new UnauthorizedError("refresh_token_expired", "The refresh token has expired; log in again.");
    case "reused":
      services.log.warn({ event: "refresh_token_reuse" }, "spent refresh token presented; family revoked");
      throw new UnauthorizedError(
        "invalid_refresh_token",
        "The refresh token was already used; this session has been revoked. Log in again.",
      );
    default:
      throw new UnauthorizedError("invalid_refresh_token", "The refresh token is invalid or revoked.");
  }
}

/**
 * Ends the session the refresh token belongs to (its whole family). An unknown token is not an
 * error (RFC 7009 §2.2): the client's goal, that the token no longer works, already holds.
 */
export async function endSession(services: Services, refreshToken: string): Promise<void> {
  const tokenHash = hashSecret(refreshToken);
  await services.sql.begin(async (tx) => {
    const [found] = await tx<{ family_id: string }[]>`
      select family_id from refresh_tokens where token_hash = ${tokenHash}`;
    if (!found) return;
    await lockFamily(tx, found.family_id);
    await revokeFamily(tx, found.family_id);
  });
}
