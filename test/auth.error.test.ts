import { describe, expect, it } from "vitest";
import { makeUser, useApp } from "./support/app.ts";
import { expectFieldError, expectProblem, login, registerAndLogin, uniqueEmail } from "./support/auth.ts";

// JSON numbers reach validators as their source text (api/middleware/exact-json.ts), so a number
// where a string is expected passes as that string: wrong types below are arrays, objects, booleans.
// A realistic bcrypt cost in this file, so the timing comparison below measures bcrypt, not noise.
const t = await useApp({ BCRYPT_COST: "10" });

const register = (body: unknown) => t.request("POST", "/api/v1/auth/register", { body });

describe("POST /auth/register errors", () => {
  it.each([
    ["missing email", { password: "long enough" }, "/email"],
    ["malformed email", { email: "not-an-email", password: "long enough" }, "/email"],
    ["missing password", { email: "a@example.test" }, "/password"],
    ["password not a string", { email: "a@example.test", password: ["long enough"] }, "/password"],
    ["7-character password", { email: "a@example.test", password: "1234567" }, "/password"],
    ["129-character password", { email: "a@example.test", password: "p".repeat(129) }, "/password"],
    ["129 code points", { email: "a@example.test", password: "😀".repeat(129) }, "/password"],
    ["role admin", { email: "a@example.test", password: "long enough", role: "admin" }, "/role"],
    ["role ops", { email: "a@example.test", password: "long enough", role: "ops" }, "/role"],
    ["role unknown", { email: "a@example.test", password: "long enough", role: "root" }, "/role"],
    ["empty name", { email: "a@example.test", password: "long enough", name: "  " }, "/name"],
    ["name too long", { email: "a@example.test", password: "long enough", name: "n".repeat(201) }, "/name"],
  ])("%s -> 422 with pointer", async (_label, body, pointer) => {
    const res = await register(body);
    expectFieldError(res, pointer);
    expect(res.body.code).toBe("validation_failed");
  });

  it.each([["usd"], ["XXX"], ["EURO"], [42]])(
    "currency %s -> 422 unsupported_currency at /currency",
    async (currency) => {
      const res = await register({ email: uniqueEmail(), password: "long enough", currency });
      expectFieldError(res, "/currency");
    },
  );

  it("a rejected registration leaves no user behind", async () => {
    const email = uniqueEmail();
    expectFieldError(await register({ email, password: "long enough", currency: "XXX" }), "/currency");
    const rows = await t.services.sql`select 1 from users where email = ${email}`;
    expect(rows).toHaveLength(0);
  });

  it("email taken, in any case -> 409 email_taken", async () => {
    const email = uniqueEmail("Taken");
    expect((await register({ email, password: "long enough" })).status).toBe(201);
    const again = await register({ email: email.toLowerCase(), password: "another one" });
    expectProblem(again, 409, "email_taken");
    expect(again.body.errors[0].pointer).toBe("/email");
  });

  it("malformed JSON -> 400; an empty body -> 422", async () => {
    const bad = await t.request("POST", "/api/v1/auth/register", {
      rawBody: "{not json",
      headers: { "content-type": "application/json" },
    });
    expectProblem(bad, 400);
    const empty = await register({});
    expectFieldError(empty, "/email");
    expect(empty.body.errors.map((e: any) => e.pointer)).toContain("/password");
  });
});

describe("POST /auth/login errors", () => {
  it.each([
    ["missing email", { password: "x" }, "/email"],
    ["malformed email", { email: "nope", password: "x" }, "/email"],
    ["missing password", { email: "a@example.test" }, "/password"],
    ["empty password", { email: "a@example.test", password: "" }, "/password"],
    ["password too long", { email: "a@example.test", password: "p".repeat(1025) }, "/password"],
  ])("%s -> 422", async (_label, body, pointer) => {
    expectFieldError(await t.request("POST", "/api/v1/auth/login", { body }), pointer);
  });

  it("wrong password and unknown email: same status, same body (but the request id)", async () => {
    const u = await registerAndLogin(t);
    const wrong = await login(t, u.email, "not the password");
    const unknown = await login(t, uniqueEmail("ghost"), "not the password");
    expectProblem(wrong, 401, "invalid_credentials");
    expectProblem(unknown, 401, "invalid_credentials");
    const strip = ({ request_id: _, ...rest }: any) => rest;
    expect(strip(unknown.body)).toEqual(strip(wrong.body));
    expect(unknown.headers.get("www-authenticate")).toBe(wrong.headers.get("www-authenticate"));
    expect(unknown.headers.get("content-type")).toBe(wrong.headers.get("content-type"));
  });

  it("an unknown email costs about the same time as a wrong password (bcrypt against a dummy hash)", async () => {
    const u = await registerAndLogin(t);
    const timeOf = async (email: string) => {
      const started = performance.now();
      const res = await login(t, email, "not the password");
      expect(res.status).toBe(401);
      return performance.now() - started;
    };
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 7; i++) {
      known.push(await timeOf(u.email));
      unknown.push(await timeOf(uniqueEmail("ghost")));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const ratio = median(unknown) / median(known);
    expect(ratio).toBeGreaterThan(0.5);
    expect(ratio).toBeLessThan(2);
  });
});

describe("POST /auth/refresh and /auth/logout errors", () => {
  it.each([
    ["/api/v1/auth/refresh", {}],
    ["/api/v1/auth/refresh", { refresh_token: "" }],
    ["/api/v1/auth/refresh", { refresh_token: true }],
    ["/api/v1/auth/logout", {}],
    ["/api/v1/auth/logout", { refresh_token: "r".repeat(513) }],
  ])("%s with %j -> 422 at /refresh_token", async (path, body) => {
    expectFieldError(await t.request("POST", path, { body }), "/refresh_token");
  });

  it("an unknown or malformed refresh token -> 401 invalid_refresh_token", async () => {
    for (const refresh_token of ["rt_unknown", "not even a token", "a.b.c"]) {
      const res = await t.request("POST", "/api/v1/auth/refresh", { body: { refresh_token } });
      expectProblem(res, 401, "invalid_refresh_token");
    }
  });

  it("an access token is not a refresh token", async () => {
    const u = await registerAndLogin(t);
    const res = await t.request("POST", "/api/v1/auth/refresh", { body: { refresh_token: u.access } });
    expectProblem(res, 401, "invalid_refresh_token");
  });
});

describe("GET /auth/me errors", () => {
  it.each([
    ["no header", undefined],
    ["empty bearer", "Bearer "],
    ["basic auth", "Basic dXNlcjpwYXNz"],
    ["garbage token", "Bearer garbage"],
    ["unknown api key", "Bearer sk_doesnotexist"],
    ["two tokens", "Bearer a b"],
  ])("%s -> 401 problem+json with WWW-Authenticate", async (_label, authorization) => {
    const res = await t.request("GET", "/api/v1/auth/me", {
      headers: authorization ? { authorization } : {},
    });
    expectProblem(res, 401);
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
  });
});

describe("API key route errors", () => {
  it("no token -> 401 on every API key route", async () => {
    for (const [method, path] of [
      ["POST", "/api/v1/api-keys"],
      ["GET", "/api/v1/api-keys"],
      ["GET", "/api/v1/api-keys/key_01ARZ3NDEKTSV4RRFFQ69G5FAV"],
      ["DELETE", "/api/v1/api-keys/key_01ARZ3NDEKTSV4RRFFQ69G5FAV"],
    ] as const) {
      expectProblem(await t.request(method, path), 401, "unauthorized");
    }
  });

  it("customer and ops -> 403 on every API key route", async () => {
    for (const role of ["customer", "ops"] as const) {
      const u = await makeUser(t.services, { role });
      for (const [method, path] of [
        ["POST", "/api/v1/api-keys"],
        ["GET", "/api/v1/api-keys"],
        ["GET", "/api/v1/api-keys/key_01ARZ3NDEKTSV4RRFFQ69G5FAV"],
        ["DELETE", "/api/v1/api-keys/key_01ARZ3NDEKTSV4RRFFQ69G5FAV"],
      ] as const) {
        const body = method === "POST" ? {} : undefined;
        expectProblem(await t.request(method, path, { token: u.token, body }), 403, "forbidden");
      }
    }
  });

  it("validation: name, limit, cursor, id", async () => {
    const m = await makeUser(t.services, { role: "merchant" });
    const post = (body: unknown) => t.request("POST", "/api/v1/api-keys", { token: m.token, body });
    expectFieldError(await post({ name: "n".repeat(101) }), "/name");
    expectFieldError(await post({ name: { first: "x" } }), "/name");
    expectFieldError(await post({ name: "" }), "/name");
    const get = (q: string) => t.request("GET", `/api/v1/api-keys${q}`, { token: m.token });
    expectFieldError(await get("?limit=0"), "/query/limit");
    expectFieldError(await get("?limit=101"), "/query/limit");
    expectFieldError(await get("?limit=ten"), "/query/limit");
    const garbage = await get("?cursor=%24%24%24garbage");
    expectFieldError(garbage, "/query/cursor");
    expect(garbage.body.code).toBe("invalid_cursor");
    expectFieldError(await get(`/${"k".repeat(65)}`), "/param/id");
  });

  it("another user's key -> 404 on get and delete, and it keeps working", async () => {
    const owner = await makeUser(t.services, { role: "merchant" });
    const other = await makeUser(t.services, { role: "merchant" });
    const created = await t.request("POST", "/api/v1/api-keys", { token: owner.token, body: {} });
    const id = created.body.id;
    expectProblem(await t.request("GET", `/api/v1/api-keys/${id}`, { token: other.token }), 404);
    expectProblem(await t.request("DELETE", `/api/v1/api-keys/${id}`, { token: other.token }), 404);
    const admin = await makeUser(t.services, { role: "admin" });
    expectProblem(await t.request("DELETE", `/api/v1/api-keys/${id}`, { token: admin.token }), 404);
    const list = await t.request("GET", "/api/v1/api-keys", { token: other.token });
    expect(list.body.data).toEqual([]);
    expect((await t.request("GET", "/api/v1/auth/me", { token: created.body.key })).status).toBe(200);
    expectProblem(await t.request("GET", "/api/v1/api-keys/key_nope", { token: owner.token }), 404);
  });

  it("an API key cannot mint API keys (a leaked key must not outlive its revocation)", async () => {
    const m = await makeUser(t.services, { role: "merchant" });
    const created = await t.request("POST", "/api/v1/api-keys", { token: m.token });
    const res = await t.request("POST", "/api/v1/api-keys", { token: created.body.key });
    expectProblem(res, 403, "api_key_not_allowed");
  });
});
