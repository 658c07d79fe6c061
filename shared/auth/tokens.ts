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

export async function verifyAccessToken(config: Config, token: string): Promise<AccessClaims> {
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
    return { userId: payload.sub, role: role as Role };
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
