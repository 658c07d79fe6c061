import { describe, expect, it } from "vitest";
import { ensureAdmin } from "../shared/auth/admin.ts";
import { makeUser, useApp } from "./support/app.ts";
import { login, registerAndLogin, uniqueEmail } from "./support/auth.ts";

const t = await useApp();
const adminEmail = uniqueEmail("admin");
const withAdmin = await useApp({ ADMIN_EMAIL: adminEmail, ADMIN_PASSWORD: "admin-password-1" });

describe("register", () => {
  it("creates the user and a USD wallet in one go", async () => {
    const email = uniqueEmail();
    const res = await t.request("POST", "/api/v1/auth/register", {
      body: { email, password: "correct horse battery", name: "Ada" },
    });
    expect(res.status).toBe(201);
    expect(res.body.user).toMatchObject({ object: "user", email, name: "Ada", role: "customer" });
    expect(res.body.user.id).toMatch(/^usr_/);
    expect(res.body.user.created_at).toMatch(/Z$/);
    expect(res.body.user).not.toHaveProperty("password_hash");
    expect(res.body.account).toMatchObject({
      object: "account",
      owner_id: res.body.user.id,
      currency: "USD",
      balance: "0.00",
      available_balance: "0.00",
      held_balance: "0.00",
    });
    expect(res.body.account.account_number).toMatch(/^ACC_/);
  });

  it("registers a merchant with a wallet in the currency asked for", async () => {
    const res = await t.request("POST", "/api/v1/auth/register", {
      body: { email: uniqueEmail("m"), password: "a merchant's password", role: "merchant", currency: "JPY" },
    });
    expect(res.status).toBe(201);
    expect(res.body.user.role).toBe("merchant");
    expect(res.body.user.name).toBeNull();
    expect(res.body.account).toMatchObject({ currency: "JPY", balance: "0" });
  });

  it("accepts a password of exactly 128 characters and of 8", async () => {
    for (const password of ["p".repeat(128), "12345678", "é".repeat(128)]) {
      const email = uniqueEmail();
      const res = await t.request("POST", "/api/v1/auth/register", { body: { email, password } });
      expect(res.status).toBe(201);
      expect((await login(t, email, password)).status).toBe(200);
    }
  });
});

describe("login, me, refresh, logout", () => {
  it("logs in with the email in any case and returns a bearer pair", async () => {
    const email = uniqueEmail("Case");
    await t.request("POST", "/api/v1/auth/register", { body: { email, password: "s3cret-pass" } });
    const res = await login(t, email.toUpperCase(), "s3cret-pass");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ token_type: "Bearer", expires_in: 900 });
    expect(res.body.access_token.split(".")).toHaveLength(3);
    expect(res.body.refresh_token).toMatch(/^rt_[\w-]{40,}$/);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const me = await t.request("GET", "/api/v1/auth/me", { token: res.body.access_token });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ object: "user", email, role: "customer", name: null });
    expect(Object.keys(me.body).sort()).toEqual(["created_at", "email", "id", "name", "object", "role"]);
  });

  it("refreshes into a new pair; the new access token works", async () => {
    const u = await registerAndLogin(t);
    const res = await t.request("POST", "/api/v1/auth/refresh", { body: { refresh_token: u.refresh } });
    expect(res.status).toBe(200);
    expect(res.body.token_type).toBe("Bearer");
    expect(res.body.refresh_token).not.toBe(u.refresh);
    const me = await t.request("GET", "/api/v1/auth/me", { token: res.body.access_token });
    expect(me.body.id).toBe(u.id);
    // ...and the new refresh token refreshes again.
    const again = await t.request("POST", "/api/v1/auth/refresh", {
      body: { refresh_token: res.body.refresh_token },
    });
    expect(again.status).toBe(200);
  });

  it("logout revokes the session: its refresh tokens stop working; 204 also for an unknown token", async () => {
    const u = await registerAndLogin(t);
    const next = await t.request("POST", "/api/v1/auth/refresh", { body: { refresh_token: u.refresh } });
    const out = await t.request("POST", "/api/v1/auth/logout", {
      body: { refresh_token: next.body.refresh_token },
    });
    expect(out.status).toBe(204);
    expect(out.body).toBeNull();
    const after = await t.request("POST", "/api/v1/auth/refresh", {
      body: { refresh_token: next.body.refresh_token },
    });
    expect(after.status).toBe(401);
    // Another login's session is untouched.
    const other = await login(t, u.email, u.password);
    const refreshed = await t.request("POST", "/api/v1/auth/refresh", {
      body: { refresh_token: other.body.refresh_token },
    });
    expect(refreshed.status).toBe(200);
    const unknown = await t.request("POST", "/api/v1/auth/logout", { body: { refresh_token: "rt_nope" } });
    expect(unknown.status).toBe(204);
  });
});

describe("API keys", () => {
  it("creates a key that is shown once, authenticates, is listed without secret and revoked", async () => {
    const m = await registerAndLogin(t, { role: "merchant" });
    const created = await t.request("POST", "/api/v1/api-keys", {
      token: m.access,
      body: { name: "checkout" },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      object: "api_key",
      name: "checkout",
      revoked_at: null,
      last_used_at: null,
    });
    expect(created.body.id).toMatch(/^key_/);
    expect(created.body.key).toMatch(/^sk_[\w-]{40,}$/);
    expect(created.body.key.startsWith(created.body.prefix)).toBe(true);
    expect(created.body.prefix.length).toBeLessThan(16);
    const key = created.body.key as string;

    const me = await t.request("GET", "/api/v1/auth/me", { token: key });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ id: m.id, role: "merchant" });

    const got = await t.request("GET", `/api/v1/api-keys/${created.body.id}`, { token: m.access });
    expect(got.status).toBe(200);
    expect(got.body).not.toHaveProperty("key");
    expect(got.body.last_used_at).toMatch(/Z$/);

    const list = await t.request("GET", "/api/v1/api-keys", { token: m.access });
    expect(list.status).toBe(200);
    expect(list.body).toMatchObject({ has_more: false, next_cursor: null });
    expect(list.body.data.map((k: any) => k.id)).toEqual([created.body.id]);
    expect(JSON.stringify(list.body)).not.toContain(key);
    expect(JSON.stringify(got.body)).not.toContain(key);

    const del = await t.request("DELETE", `/api/v1/api-keys/${created.body.id}`, { token: m.access });
    expect(del.status).toBe(200);
    expect(del.body).toMatchObject({ id: created.body.id, object: "api_key" });
    expect(del.body.revoked_at).toMatch(/Z$/);
    expect(del.body).not.toHaveProperty("key");
    expect((await t.request("GET", "/api/v1/auth/me", { token: key })).status).toBe(401);
    // Revoking again is harmless and answers the same.
    const again = await t.request("DELETE", `/api/v1/api-keys/${created.body.id}`, { token: m.access });
    expect(again.status).toBe(200);
    expect(again.body.revoked_at).toBe(del.body.revoked_at);
  });

  it("creates a key without a body, lists newest first with a cursor", async () => {
    const m = await makeUser(t.services, { role: "merchant" });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await t.request("POST", "/api/v1/api-keys", { token: m.token });
      expect(res.status).toBe(201);
      expect(res.body.name).toBeNull();
      ids.push(res.body.id);
    }
    const first = await t.request("GET", "/api/v1/api-keys?limit=2", { token: m.token });
    expect(first.body.data.map((k: any) => k.id)).toEqual([ids[2], ids[1]]);
    expect(first.body.has_more).toBe(true);
    const second = await t.request("GET", `/api/v1/api-keys?limit=2&cursor=${first.body.next_cursor}`, {
      token: m.token,
    });
    expect(second.body).toMatchObject({ has_more: false, next_cursor: null });
    expect(second.body.data.map((k: any) => k.id)).toEqual([ids[0]]);
  });

  it("keys are merchant credentials: admins cannot make one, and a promoted merchant's key stops working", async () => {
    const admin = await makeUser(t.services, { role: "admin" });
    expect((await t.request("POST", "/api/v1/api-keys", { token: admin.token, body: {} })).status).toBe(403);
    const merchant = await makeUser(t.services, { role: "merchant" });
    const res = await t.request("POST", "/api/v1/api-keys", { token: merchant.token, body: {} });
    expect(res.status).toBe(201);
    expect((await t.request("GET", "/api/v1/auth/me", { token: res.body.key })).status).toBe(200);
    await t.services.sql`update users set role = 'admin' where id = ${merchant.id}`;
    const promoted = await t.request("GET", "/api/v1/auth/me", { token: res.body.key });
    expect(promoted.status).toBe(401);
    const deposit = await t.request("POST", "/api/v1/deposits", {
      token: res.body.key,
      headers: { "Idempotency-Key": `k-${merchant.id}` },
      body: { account_number: merchant.account.account_number, amount: "1000.00", currency: "USD" },
    });
    expect(deposit.status).toBe(401);
  });
});

describe("admin bootstrap", () => {
  it("creates the admin once however often (and concurrently) it runs; the admin can log in", async () => {
    const s = withAdmin;
    const email = adminEmail;
    await ensureAdmin(s.services);
    await Promise.all([ensureAdmin(s.services), ensureAdmin(s.services)]);
    const users = await t.services.sql`select id, role from users where lower(email) = lower(${email})`;
    expect(users).toHaveLength(1);
    expect(users[0]?.role).toBe("admin");
    const accounts = await t.services.sql`select 1 from accounts where owner_id = ${users[0]?.id}`;
    expect(accounts).toHaveLength(1);
    const res = await login(s, email, "admin-password-1");
    expect(res.status).toBe(200);
    const me = await s.request("GET", "/api/v1/auth/me", { token: res.body.access_token });
    expect(me.body.role).toBe("admin");
  });
});
