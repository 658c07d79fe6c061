import type { Role, Services } from "../context.ts";
import { UnauthorizedError } from "../errors.ts";
import { dummyHash, verifyPassword } from "./passwords.ts";
import { beginLoginAttempt, loginSucceeded } from "./throttle.ts";

export interface Credentials {
  email: string;
  password: string;
  /** For the per-address throttle (api/client-address.ts). */
  clientAddress: string;
}

/**
 * The one check of an email and a password, for /auth/login and for HTTP Basic alike. Throttled
 * per email and per client address (throttle.ts: 429 once over budget, the attempt recorded before
 * the password is checked); a wrong password and an unknown email give the same 401 after the same
 * bcrypt work (the unknown one is checked against a dummy hash). `admits` may turn away a user
 * whose password is right (a page for some roles only): that is the same 401 and counts as a
 * failed attempt, so a password is never confirmed where it will not be honoured.
 */
export async function checkCredentials(
  services: Services,
  input: Credentials,
  admits: (user: { role: Role }) => boolean = () => true,
): Promise<{ id: string; role: Role }> {
  const { sql, config } = services;
  const attempt = await beginLoginAttempt(sql, config, {
    email: input.email.toLowerCase(),
    address: input.clientAddress,
  });
  const [user] = await sql<{ id: string; role: Role; password_hash: string }[]>`
    select id, role, password_hash from users where lower(email) = lower(${input.email})`;
  // Awaited for known emails too, so the first login of the process costs the same either way.
  const dummy = await dummyHash(config.BCRYPT_COST);
  const ok = await verifyPassword(input.password, user?.password_hash ?? dummy);
  if (!user || !ok || !admits(user)) {
    throw new UnauthorizedError("invalid_credentials", "The email or password is incorrect.");
  }
  await loginSucceeded(sql, attempt);
  return { id: user.id, role: user.role };
}
