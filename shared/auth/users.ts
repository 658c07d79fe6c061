import type { Ctx, Role, Services } from "../context.ts";
import { ConflictError, UnauthorizedError, ValidationError } from "../errors.ts";
import { newId } from "../ids.ts";
import { type AccountRow, openAccount } from "../ledger/index.ts";
import { parseCurrency } from "../money.ts";
import { type Credentials, checkCredentials } from "./credentials.ts";
import { hashPassword, PASSWORD_MAX, PASSWORD_MIN } from "./passwords.ts";
import { startSession, type TokenPair } from "./sessions.ts";

export interface UserRow {
  id: string;
  email: string;
  name: string | null;
  role: Role;
  created_at: Date;
}

/** Roles anyone may give themselves; ops and admin are made by an admin or at boot. */
export const SELF_SERVICE_ROLES = ["customer", "merchant"] as const;

/** Password length in Unicode code points (NIST SP 800-63B), so "é" or an emoji counts once. */
export function passwordLengthOk(password: string): boolean {
  const n = [...password].length;
  return n >= PASSWORD_MIN && n <= PASSWORD_MAX;
}

export interface RegisterInput {
  email: string;
  password: string;
  name?: string | null;
  role?: string;
  currency?: string;
}

/** Creates a user and their first wallet, together or not at all. */
export async function registerUser(
  services: Services,
  input: RegisterInput,
): Promise<{ user: UserRow; account: AccountRow }> {
  const role = input.role ?? "customer";
  if (!(SELF_SERVICE_ROLES as readonly string[]).includes(role)) {
    throw ValidationError.field("/role", "role must be customer or merchant.", "role_not_allowed");
  }
  if (!passwordLengthOk(input.password)) {
    throw ValidationError.field(
      "/password",
      `password must be ${PASSWORD_MIN} to ${PASSWORD_MAX} characters.`,
      "invalid_password",
    );
  }
  const currency = parseCurrency(input.currency ?? "USD");
  // bcrypt is slow on purpose: done before the transaction so no connection waits on it.
  const passwordHash = await hashPassword(input.password, services.config.BCRYPT_COST);
  try {
    return await services.sql.begin(async (tx) => {
      const [user] = await tx<UserRow[]>`
        insert into users (id, email, password_hash, name, role)
        values (${newId("usr")}, ${input.email}, ${passwordHash}, ${input.name ?? null}, ${role})
        returning id, email, name, role, created_at`;
      if (!user) throw new Error("insert returned no row");
      const account = await openAccount(tx, { ownerId: user.id, currency });
      return { user, account };
    });
  } catch (err) {
    const pg = err as { code?: string; constraint_name?: string };
    if (pg.code === "23505" && pg.constraint_name === "users_email_key") {
      throw new ConflictError("email_taken", "An account with this email already exists.", {
        errors: [{ pointer: "/email", detail: "is already registered" }],
      });
    }
    throw err;
  }
}

/** Checks credentials (the same check as HTTP Basic: credentials.ts) and starts a session. */
export async function login(services: Services, input: Credentials): Promise<TokenPair> {
  return startSession(services, await checkCredentials(services, input));
}

/** The caller's own user record. */
export async function getCurrentUser(ctx: Ctx): Promise<UserRow> {
  const [user] = await ctx.sql<UserRow[]>`
    select id, email, name, role, created_at from users where id = ${ctx.principal.userId}`;
  // A valid token for a user who no longer exists: the credentials are no good.
  if (!user) throw new UnauthorizedError("invalid_token", "The user of this token no longer exists.");
  return user;
}
