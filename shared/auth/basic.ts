import type { Principal, Role, Services } from "../context.ts";
import { UnauthorizedError } from "../errors.ts";
import { checkCredentials } from "./credentials.ts";

/**
 * HTTP Basic (email:password) for browser-facing ops pages such as the queue dashboard, where a
 * bearer header cannot be typed in. It is a login like any other, checked by /auth/login's own
 * check (credentials.ts): throttled with the same budget, the same time for unknown emails, and
 * one and the same 401 for a wrong password and for a user whose role may not enter (so it never
 * confirms a password it will not honour).
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
  const user = await checkCredentials(services, { email, password, clientAddress: opts.clientAddress }, (u) =>
    opts.roles.includes(u.role),
  );
  return { userId: user.id, role: user.role, apiKeyId: null };
}
