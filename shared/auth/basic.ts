import type { Principal, Role, Services } from "../context.ts";
import { UnauthorizedError } from "../errors.ts";
import { dummyHash, verifyPassword } from "./passwords.ts";

/**
 * HTTP Basic (email:password) for browser-facing ops pages such as the queue dashboard, where a
 * bearer header cannot be typed in. Same timing for unknown emails as for wrong passwords.
 */
export async function authenticateBasic(services: Services, header: string | undefined): Promise<Principal> {
  const match = header?.match(/^Basic\s+([A-Za-z0-9+/=]+)\s*$/i);
  if (!match?.[1]) throw new UnauthorizedError();
  const decoded = Buffer.from(match[1], "base64").toString("utf8");
  const sep = decoded.indexOf(":");
  if (sep < 0) throw new UnauthorizedError();
  const email = decoded.slice(0, sep);
  const password = decoded.slice(sep + 1);
  const [user] = await services.sql<{ id: string; role: Role; password_hash: string }[]>`
    select id, role, password_hash from users where lower(email) = lower(${email})`;
  const ok = await verifyPassword(
    password,
    user?.password_hash ?? (await dummyHash(services.config.BCRYPT_COST)),
  );
  if (!user || !ok) throw new UnauthorizedError("invalid_credentials", "Invalid email or password.");
  return { userId: user.id, role: user.role, apiKeyId: null };
}
