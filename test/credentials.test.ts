import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { authenticateBasic } from "../shared/auth/basic.ts";
import { hashPassword } from "../shared/auth/passwords.ts";
import { login } from "../shared/auth/users.ts";
import type { Role } from "../shared/context.ts";
import { newId } from "../shared/ids.ts";
import { closeServices, makeServices } from "./support/app.ts";
import { uniqueAddress, uniqueEmail } from "./support/auth.ts";

/** /auth/login and the dashboard's HTTP Basic go through one credential check (shared/auth/credentials.ts). */
const services = await makeServices({ LOGIN_MAX_ATTEMPTS: "3" });
afterAll(() => closeServices(services));

async function userWithPassword(role: Role): Promise<{ id: string; email: string; password: string }> {
  const id = newId("usr");
  const email = uniqueEmail(role);
  const password = `pw-${randomUUID()}`;
  const hash = await hashPassword(password, services.config.BCRYPT_COST);
  await services.sql`insert into users (id, email, password_hash, role) values (${id}, ${email}, ${hash}, ${role})`;
  return { id, email, password };
}

const viaLogin = (email: string, password: string, clientAddress = uniqueAddress()) =>
  login(services, { email, password, clientAddress });

const viaBasic = (email: string, password: string, clientAddress = uniqueAddress()) =>
  authenticateBasic(services, `Basic ${Buffer.from(`${email}:${password}`).toString("base64")}`, {
    clientAddress,
    roles: ["ops", "admin"],
  });

const refused = { status: 401, code: "invalid_credentials" };
const throttled = { status: 429, code: "rate_limited" };

describe("one credential check for login and HTTP Basic", () => {
  it("lets the right password in through both", async () => {
    const ops = await userWithPassword("ops");
    expect(await viaLogin(ops.email, ops.password)).toMatchObject({ accessToken: expect.any(String) });
    expect(await viaBasic(ops.email.toUpperCase(), ops.password)).toEqual({
      userId: ops.id,
      role: "ops",
      apiKeyId: null,
    });
  });

  it("refuses a wrong password, and an unknown email, with the same 401 through both", async () => {
    const ops = await userWithPassword("ops");
    await expect(viaLogin(ops.email, "wrong-password")).rejects.toMatchObject(refused);
    await expect(viaBasic(ops.email, "wrong-password")).rejects.toMatchObject(refused);
    const nobody = uniqueEmail("nobody");
    await expect(viaLogin(nobody, "wrong-password")).rejects.toMatchObject(refused);
    await expect(viaBasic(nobody, "wrong-password")).rejects.toMatchObject(refused);
  });

  it("spends one throttle budget per email, whichever way the guesses come", async () => {
    const ops = await userWithPassword("ops");
    // Every guess from a new address: only the email's budget (3) is shared.
    await expect(viaLogin(ops.email, "guess-1")).rejects.toMatchObject(refused);
    await expect(viaBasic(ops.email, "guess-2")).rejects.toMatchObject(refused);
    await expect(viaLogin(ops.email, "guess-3")).rejects.toMatchObject(refused);
    // Over budget: even the right password waits, through either door.
    await expect(viaBasic(ops.email, ops.password)).rejects.toMatchObject(throttled);
    await expect(viaLogin(ops.email, ops.password)).rejects.toMatchObject(throttled);
  });

  it("spends one throttle budget per client address, whichever way the guesses come", async () => {
    const address = uniqueAddress();
    await expect(viaBasic(uniqueEmail("a"), "guess", address)).rejects.toMatchObject(refused);
    await expect(viaLogin(uniqueEmail("b"), "guess", address)).rejects.toMatchObject(refused);
    await expect(viaBasic(uniqueEmail("c"), "guess", address)).rejects.toMatchObject(refused);
    await expect(viaLogin(uniqueEmail("d"), "guess", address)).rejects.toMatchObject(throttled);
  });

  it("turns a role Basic does not admit away like a wrong password, and counts it as a failure", async () => {
    const customer = await userWithPassword("customer");
    for (let i = 0; i < 3; i++) {
      await expect(viaBasic(customer.email, customer.password)).rejects.toMatchObject(refused);
    }
    await expect(viaLogin(customer.email, customer.password)).rejects.toMatchObject(throttled);
  });

  it("clears the email's failures on a successful login, through either door", async () => {
    const ops = await userWithPassword("ops");
    await expect(viaLogin(ops.email, "guess-1")).rejects.toMatchObject(refused);
    await expect(viaLogin(ops.email, "guess-2")).rejects.toMatchObject(refused);
    await viaBasic(ops.email, ops.password);
    await expect(viaLogin(ops.email, "guess-3")).rejects.toMatchObject(refused);
    await expect(viaLogin(ops.email, "guess-4")).rejects.toMatchObject(refused);
    expect(await viaLogin(ops.email, ops.password)).toMatchObject({ accessToken: expect.any(String) });
  });
});
