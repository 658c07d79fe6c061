import type { Principal, Role, Services } from "../context.ts";
import { UnauthorizedError } from "../errors.ts";
import { dummyHash, verifyPassword } from "./passwords.ts";
import { beginLoginAttempt, loginSucceeded } from "./throttle.ts";

/**
 * HTTP Basic (email:password) for browser-facing ops pages such as the queue dashboard, where a
 * bearer header cannot be typed in. It is a login like any other: throttled per email and per
 * client address with /auth/login's budget, the same time for unknown emails, and one and the
 * same 401 for a wrong password and for a user whose role may not enter (so it never confirms a
 * password it will not honour).
 */
export async function authenticateBasic(
  services: Services,
  header: string | undefined,
  opts: { clientAddress: string; roles: Role[] },
): Promise<Principal> {
  const match = header?.match(/^Basic\s+([A-Za-z0-9+/=]+)\s*$/i);
  if (!match?.[1]) throw new UnauthorizedError();
  const decoded = Buffer.from(match[1], "base64").toString("utf8");
  const sep = decoded.indexOf(":");
  if (sep < 0) throw new UnauthorizedError();
  const email = decoded.slice(0, sep);
  const password = decoded.slice(sep + 1);
  if (email.length > 320 || password.length > 1024) throw new UnauthorizedError();
  const attempt = await beginLoginAttempt(services.sql, services.config, {
    email: email.toLowerCase(),
    address: opts.clientAddress,
  });
  const [user] = await services.sql<{ id: string; role: Role; password_hash: string }[]>`
    select id, role, password_hash from users where lower(email) = lower(${email})`;
  const ok = await verifyPassword(
    password,
    user?.password_hash ?? (await dummyHash(services.config.BCRYPT_COST)),
  );
  if (!user || !ok || !opts.roles.includes(user.role)) {
    throw new UnauthorizedError("invalid_credentials", "Invalid email or password, or no access.");
  }
  await loginSucceeded(services.sql, attempt);
  return { userId: user.id, role: user.role, apiKeyId: null };
}
