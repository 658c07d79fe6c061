import type { Services } from "../context.ts";
import { newId } from "../ids.ts";
import { openAccount } from "../ledger/index.ts";
import { hashPassword } from "./passwords.ts";

/**
 * Creates the admin named by ADMIN_EMAIL / ADMIN_PASSWORD when no user has that email yet. Safe to
 * run at every start and from several processes at once: the unique email index keeps it to one.
 */
export async function ensureAdmin(services: Pick<Services, "config" | "sql" | "log">): Promise<void> {
  const { config, sql, log } = services;
  if (!config.ADMIN_EMAIL || !config.ADMIN_PASSWORD) return;
  const email = config.ADMIN_EMAIL;
  const [existing] = await sql<
    { role: string }[]
  >`select role from users where lower(email) = lower(${email})`;
  if (existing) {
    // Never promote (or reset) an existing user from the environment: only say so.
    if (existing.role !== "admin") log.warn({ email }, "ADMIN_EMAIL belongs to a non-admin user; left as is");
    return;
  }
  const passwordHash = await hashPassword(config.ADMIN_PASSWORD, config.BCRYPT_COST);
  const created = await sql.begin(async (tx) => {
    const [user] = await tx<{ id: string }[]>`
      insert into users (id, email, password_hash, name, role)
      values (${newId("usr")}, ${email}, ${passwordHash}, 'Administrator', 'admin')
      on conflict do nothing
      returning id`;
    if (user) await openAccount(tx, { ownerId: user.id, currency: "USD" });
    return Boolean(user);
  });
  if (created) log.info({ email }, "admin user created");
}
