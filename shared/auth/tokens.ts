import { createHash, randomBytes } from "node:crypto";
import { errors as joseErrors, jwtVerify, SignJWT } from "jose";
import type { Config } from "../config.ts";
import type { Role } from "../context.ts";
import { ROLES } from "../context.ts";
import { UnauthorizedError } from "../errors.ts";

/** The only algorithm we sign with and the only one we accept: no `none`, no RS/HS confusion. */
const ALG = "HS256";
/** `typ` claim of access tokens: a refresh token (opaque) or any other JWT can never pass as one. */
const ACCESS_TYP = "access";

function key(config: Config): Uint8Array {
  return new TextEncoder().encode(config.JWT_SECRET);
}

export interface AccessClaims {
  userId: string;
  role: Role;
}

export async function signAccessToken(config: Config, claims: AccessClaims): Promise<string> {
  return new SignJWT({ role: claims.role, typ: ACCESS_TYP })
    .setProtectedHeader({ alg: ALG, typ: "JWT" })
    .setSubject(claims.userId)
    .setIssuer(config.JWT_ISSUER)
    .setAudience(config.JWT_AUDIENCE)
    .setIssuedAt()
    .setJti(randomBytes(12).toString("base64url"))
    .setExpirationTime(`${config.ACCESS_TOKEN_TTL_SECONDS}s`)
    .sign(key(config));
}

/**
 * Tokens already verified, with their expiry: an HMAC check through WebCrypto costs more than the
 * rest of a request's CPU, and a client sends the same token many times. A hit is only honoured
 * for the same secret, issuer and audience, and before `exp`. Bounded; oldest dropped first.
 */
const verified = new Map<string, { claims: AccessClaims; exp: number; verifier: string }>();
const VERIFIED_MAX = 10_000;

export async function verifyAccessToken(config: Config, token: string): Promise<AccessClaims> {
  const verifier = `${config.JWT_SECRET}\n${config.JWT_ISSUER}\n${config.JWT_AUDIENCE}`;
  const hit = verified.get(token);
  if (hit && hit.verifier === verifier && Date.now() < hit.exp * 1000) return hit.claims;
  const claims = await verifyUncached(config, token);
  if (verified.size >= VERIFIED_MAX) verified.delete(verified.keys().next().value as string);
  verified.set(token, { claims: claims.claims, exp: claims.exp, verifier });
  return claims.claims;
}

async function verifyUncached(config: Config, token: string): Promise<{ claims: AccessClaims; exp: number }> {
  try {
    const { payload } = await jwtVerify(token, key(config), {
      algorithms: [ALG],
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      requiredClaims: ["exp", "sub", "iat"],
      typ: "JWT",
    });
    if (payload.typ !== ACCESS_TYP)
      throw new UnauthorizedError("invalid_token", "This token is not an access token.");
    const role = payload.role;
    if (typeof payload.sub !== "string" || !ROLES.includes(role as Role)) {
      throw new UnauthorizedError("invalid_token", "The access token is malformed.");
    }
    return { claims: { userId: payload.sub, role: role as Role }, exp: payload.exp as number };
  } catch (err) {
    if (err instanceof UnauthorizedError) throw err;
    if (err instanceof joseErrors.JWTExpired)
      throw new UnauthorizedError("token_expired", "The access token has expired.");
    throw new UnauthorizedError("invalid_token", "The access token is invalid.");
  }
}

/** Opaque secrets (refresh tokens, API keys) are stored only as their SHA-256. */
export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

export function randomSecret(prefix: string, bytes = 32): string {
  return `${prefix}${randomBytes(bytes).toString("base64url")}`;
}
