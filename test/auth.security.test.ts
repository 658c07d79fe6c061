import { Writable } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { hashSecret } from "../shared/auth/tokens.ts";
import { createLogger } from "../shared/logger.ts";
import { makeUser, type TestApp, useApp } from "./support/app.ts";
import {
  expectFieldError,
  expectProblem,
  login,
  registerAndLogin,
  requestFrom,
  uniqueAddress,
  uniqueEmail,
} from "./support/auth.ts";

const t = await useApp();
const throttled = await useApp({ LOGIN_MAX_ATTEMPTS: "3" });
const shortWindow = await useApp({ LOGIN_MAX_ATTEMPTS: "2", LOGIN_WINDOW_SECONDS: "1" });

const refresh = (app: TestApp, refresh_token: string) =>
  app.request("POST", "/api/v1/auth/refresh", { body: { refresh_token } });

describe("refresh token rotation (RFC 9700 reuse detection)", () => {
  it("a spent token presented again revokes its whole family, newest token included", async () => {
    const u = await registerAndLogin(t);
    const other = await login(t, u.email, u.password); // a second session of the same user
    const r2 = (await refresh(t, u.refresh)).body.refresh_token;
    const r3 = (await refresh(t, r2)).body.refresh_token;
    expect(r3).toMatch(/^rt_/);

    const replay = await refresh(t, u.refresh);
    expectProblem(replay, 401, "invalid_refresh_token");
    expect(replay.body.detail).toMatch(/already used/);
    expectProblem(await refresh(t, r3), 401, "invalid_refresh_token");
    expectProblem(await refresh(t, r2), 401, "invalid_refresh_token");
    const rows = await t.services.sql`
      select count(*)::int as n, count(revoked_at)::int as revoked from refresh_tokens
       where family_id = (select family_id from refresh_tokens where token_hash = ${hashSecret(r3)})`;
    expect(rows[0]).toEqual({ n: 3, revoked: 3 });
    // Only that family: the user's other session still refreshes.
    expect((await refresh(t, other.body.refresh_token)).status).toBe(200);
  });

  it("of concurrent refreshes with one token, at most one succeeds", async () => {
    for (let round = 0; round < 5; round++) {
      const u = await registerAndLogin(t);
      const results = await Promise.all(Array.from({ length: 6 }, () => refresh(t, u.refresh)));
      const ok = results.filter((r) => r.status === 200);
      expect(ok.length).toBeLessThanOrEqual(1);
      for (const r of results.filter((r) => r.status !== 200)) expectProblem(r, 401, "invalid_refresh_token");
      const [issued] = await t.services.sql`
        select count(*)::int as n from refresh_tokens
         where family_id = (select family_id from refresh_tokens where token_hash = ${hashSecret(u.refresh)})`;
      expect(issued?.n).toBe(1 + ok.length);
    }
  });

  it("an expired refresh token -> 401 refresh_token_expired, and it stays unusable", async () => {
    const u = await registerAndLogin(t);
    await t.services.sql`
      update refresh_tokens set expires_at = now() - interval '1 second' where token_hash = ${hashSecret(u.refresh)}`;
    expectProblem(await refresh(t, u.refresh), 401, "refresh_token_expired");
    expectProblem(await refresh(t, u.refresh), 401, "refresh_token_expired");
  });

  it("a refresh token is issued with REFRESH_TOKEN_TTL_SECONDS and stored only hashed", async () => {
    const u = await registerAndLogin(t);
    const [row] = await t.services.sql`
      select token_hash, extract(epoch from expires_at - created_at)::int as ttl from refresh_tokens
       where token_hash = ${hashSecret(u.refresh)}`;
    expect(row?.ttl).toBe(t.services.config.REFRESH_TOKEN_TTL_SECONDS);
    const [plain] = await t.services.sql`select 1 from refresh_tokens where token_hash = ${u.refresh}`;
    expect(plain).toBeUndefined();
  });

  it("logout with a spent token still revokes the family", async () => {
    const u = await registerAndLogin(t);
    const r2 = (await refresh(t, u.refresh)).body.refresh_token;
    expect(
      (await t.request("POST", "/api/v1/auth/logout", { body: { refresh_token: u.refresh } })).status,
    ).toBe(204);
    expectProblem(await refresh(t, r2), 401);
  });
});

describe("passwords", () => {
  it("two passwords sharing their first 72 bytes: only the right one logs in", async () => {
    for (const prefix of ["a".repeat(72), "ü".repeat(36), "x".repeat(100)]) {
      const email = uniqueEmail();
      const right = `${prefix}-right`;
      const wrong = `${prefix}-wrong`;
      expect(Buffer.byteLength(prefix)).toBeGreaterThanOrEqual(72);
      expect(
        (await t.request("POST", "/api/v1/auth/register", { body: { email, password: right } })).status,
      ).toBe(201);
      expectProblem(await login(t, email, wrong), 401, "invalid_credentials");
      expectProblem(await login(t, email, prefix), 401, "invalid_credentials");
      expect((await login(t, email, right)).status).toBe(200);
    }
  });

  it("129 characters -> 422, never truncated; 128 is fine", async () => {
    const email = uniqueEmail();
    expectFieldError(
      await t.request("POST", "/api/v1/auth/register", { body: { email, password: "p".repeat(129) } }),
      "/password",
    );
    const ok = await t.request("POST", "/api/v1/auth/register", {
      body: { email, password: "p".repeat(128) },
    });
    expect(ok.status).toBe(201);
    expectProblem(await login(t, email, "p".repeat(127)), 401);
    expect((await login(t, email, "p".repeat(128))).status).toBe(200);
  });

  it("stores a bcrypt hash, never the password", async () => {
    const u = await registerAndLogin(t);
    const [row] = await t.services.sql`select password_hash from users where id = ${u.id}`;
    expect(row?.password_hash).toMatch(/^\$2[aby]\$/);
    expect(row?.password_hash).not.toContain(u.password);
  });
});

describe("login throttling", () => {
  it("per email: the 4th attempt within the window -> 429 with Retry-After, even with the right password", async () => {
    const u = await registerAndLogin(throttled);
    for (let i = 0; i < 3; i++) expectProblem(await login(throttled, u.email, "wrong password"), 401);
    const blocked = await login(throttled, u.email, u.password);
    expectProblem(blocked, 429, "rate_limited");
    const retryAfter = Number(blocked.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(900);
    // The email is throttled whatever its case.
    expectProblem(await login(throttled, u.email.toUpperCase(), u.password), 429);
  });

  it("per client address: failures across many emails from one address block that address only", async () => {
    const address = uniqueAddress();
    for (let i = 0; i < 3; i++) {
      expectProblem(await login(throttled, uniqueEmail("spray"), "guess", address), 401);
    }
    const u = await registerAndLogin(throttled);
    const blocked = await login(throttled, u.email, u.password, address);
    expectProblem(blocked, 429, "rate_limited");
    expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await login(throttled, u.email, u.password, uniqueAddress())).status).toBe(200);
  });

  it("a successful login clears the email's failures", async () => {
    const u = await registerAndLogin(throttled);
    for (let i = 0; i < 2; i++) expectProblem(await login(throttled, u.email, "wrong"), 401);
    expect((await login(throttled, u.email, u.password)).status).toBe(200);
    for (let i = 0; i < 2; i++) expectProblem(await login(throttled, u.email, "wrong"), 401);
    expect((await login(throttled, u.email, u.password)).status).toBe(200);
  });

  it("concurrent guesses cannot slip under the limit", async () => {
    const u = await registerAndLogin(throttled);
    const results = await Promise.all(
      Array.from({ length: 10 }, () => login(throttled, u.email, "wrong", uniqueAddress())),
    );
    expect(results.filter((r) => r.status === 401)).toHaveLength(3);
    expect(results.filter((r) => r.status === 429)).toHaveLength(7);
  });

  it("the window slides: after it passes, logins are allowed again", async () => {
    const u = await registerAndLogin(shortWindow);
    for (let i = 0; i < 2; i++) expectProblem(await login(shortWindow, u.email, "wrong"), 401);
    const blocked = await login(shortWindow, u.email, u.password);
    expectProblem(blocked, 429);
    expect(blocked.headers.get("retry-after")).toBe("1");
    await new Promise((r) => setTimeout(r, 1100));
    expect((await login(shortWindow, u.email, u.password)).status).toBe(200);
  });

  it("without a socket (app.request) the client address falls back to a fixed key, never a 500", async () => {
    const u = await registerAndLogin(t);
    const res = await t.request("POST", "/api/v1/auth/login", {
      body: { email: u.email, password: u.password },
    });
    expect(res.status).toBe(200);
    const [row] = await t.services.sql`select count(*)::int as n from login_attempts where key = ${u.email}`;
    expect(row?.n).toBe(0); // a success leaves nothing behind
  });

  it("the peer address given by @hono/node-server is what is counted", async () => {
    const address = uniqueAddress();
    expectProblem(
      await requestFrom(t, address, "POST", "/api/v1/auth/login", { email: uniqueEmail(), password: "x" }),
      401,
    );
    const [row] = await t.services.sql`
      select count(*)::int as n from login_attempts where scope = 'address' and key = ${address}`;
    expect(row?.n).toBe(1);
  });
});

describe("API keys", () => {
  it("a revoked key is refused at once; the key is stored hashed", async () => {
    const m = await makeUser(t.services, { role: "merchant" });
    const created = await t.request("POST", "/api/v1/api-keys", { token: m.token, body: { name: "k" } });
    const [row] = await t.services.sql`select key_hash, prefix from api_keys where id = ${created.body.id}`;
    expect(row?.key_hash).toBe(hashSecret(created.body.key));
    expect(row?.key_hash).not.toContain(created.body.key);
    expect((await t.request("GET", "/api/v1/accounts", { token: created.body.key })).status).toBe(200);
    await t.request("DELETE", `/api/v1/api-keys/${created.body.id}`, { token: m.token });
    const refused = await t.request("GET", "/api/v1/accounts", { token: created.body.key });
    expectProblem(refused, 401, "invalid_api_key");
  });

  it("a customer cannot create one", async () => {
    const u = await registerAndLogin(t);
    expectProblem(await t.request("POST", "/api/v1/api-keys", { token: u.access, body: {} }), 403);
  });
});

/** Collects what a logger writes. */
function capture(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  return { stream, text: () => chunks.join("") };
}

describe("no passwords or tokens in logs", () => {
  it("the logger's redact config hides passwords and tokens", () => {
    const out = capture();
    const log = createLogger("info");
    // The root's destination, swapped for the test; children inherit it.
    (log as any)[pino.symbols.streamSym] = out.stream;
    log.child({ request_id: "req_1" }).info(
      {
        password: "hunter2-top-level",
        refresh_token: "rt_secret_refresh",
        access_token: "eyJ.access.token",
        token: "tok_secret",
        body: { password: "hunter2-nested", refresh_token: "rt_nested_refresh", secret: "whsec_nested" },
        headers: { authorization: "Bearer sk_live_secret" },
      },
      "login",
    );
    const text = out.text();
    expect(text).toContain("[redacted]");
    for (const secret of [
      "hunter2-top-level",
      "rt_secret_refresh",
      "eyJ.access.token",
      "tok_secret",
      "hunter2-nested",
      "rt_nested_refresh",
      "whsec_nested",
      "sk_live_secret",
    ]) {
      expect(text).not.toContain(secret);
    }
  });

  it("a full auth flow at trace level writes no password, token or key", async () => {
    const traced = await useAppLogged();
    const email = uniqueEmail();
    const password = "a very secret passphrase";
    await traced.app.request("POST", "/api/v1/auth/register", {
      body: { email, password, role: "merchant" },
    });
    const pair = (await login(traced.app, email, password)).body;
    await login(traced.app, email, "the wrong passphrase");
    const next = (await refresh(traced.app, pair.refresh_token)).body;
    await refresh(traced.app, pair.refresh_token); // reuse: logged as a warning
    const key = (await traced.app.request("POST", "/api/v1/api-keys", { token: next.access_token, body: {} }))
      .body;
    await traced.app.request("GET", "/api/v1/auth/me", { token: key.key });
    await traced.app.request("DELETE", `/api/v1/api-keys/${key.id}`, { token: next.access_token });
    const text = traced.text();
    expect(text).toContain("refresh_token_reuse");
    for (const secret of [
      password,
      "the wrong passphrase",
      pair.refresh_token,
      pair.access_token,
      next.refresh_token,
      next.access_token,
      key.key,
    ]) {
      expect(text).not.toContain(secret);
    }
  });
});

const loggedApp = await useApp({ LOG_LEVEL: "trace" });
async function useAppLogged(): Promise<{ app: TestApp; text: () => string }> {
  const out = capture();
  (loggedApp.services.log as any)[pino.symbols.streamSym] = out.stream;
  return { app: loggedApp, text: out.text };
}
