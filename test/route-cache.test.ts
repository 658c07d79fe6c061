import type { Result, Router } from "hono/router";
import { TrieRouter } from "hono/router/trie-router";
import { describe, expect, it } from "vitest";
import { CachingRouter } from "../api/route-cache.ts";
import { useApp } from "./support/app.ts";
import { registerAndLogin } from "./support/auth.ts";

const t = await useApp();

/** A TrieRouter that counts its searches. */
class CountingRouter<T> implements Router<T> {
  name = "counting";
  searches = 0;
  readonly #inner = new TrieRouter<T>();
  add(method: string, path: string, handler: T): void {
    this.#inner.add(method, path, handler);
  }
  match(method: string, path: string): Result<T> {
    this.searches++;
    return this.#inner.match(method, path);
  }
}

function handlersOf(result: Result<string>): string[] {
  return result[0].map(([h]) => h);
}

function routes(router: Router<string>): void {
  router.add("ALL", "/*", "log");
  router.add("POST", "/api/v1/payments", "create");
  router.add("GET", "/api/v1/accounts/history", "history");
  router.add("GET", "/api/v1/accounts/:account_number", "account");
  router.add("GET", "/api/v1/payments/:id", "payment");
}

describe("CachingRouter", () => {
  it("searches a path without parameters once, then answers from memory with the same match", () => {
    const inner = new CountingRouter<string>();
    const router = new CachingRouter(inner);
    routes(router);
    const first = router.match("POST", "/api/v1/payments");
    for (let i = 0; i < 5; i++) expect(router.match("POST", "/api/v1/payments")).toBe(first);
    expect(handlersOf(first)).toEqual(["log", "create"]);
    expect(inner.searches).toBe(1);
    // Method is part of the key: a GET of the same path is its own match.
    expect(handlersOf(router.match("GET", "/api/v1/payments"))).toEqual(["log"]);
    expect(inner.searches).toBe(2);
    // A static path beside a parameter keeps the order the routes were added in.
    expect(handlersOf(router.match("GET", "/api/v1/accounts/history"))).toEqual([
      "log",
      "history",
      "account",
    ]);
  });

  it("does not keep matches with path parameters: each path gets its own parameters", () => {
    const inner = new CountingRouter<string>();
    const router = new CachingRouter(inner);
    routes(router);
    const a = router.match("GET", "/api/v1/payments/pay_a");
    const b = router.match("GET", "/api/v1/payments/pay_b");
    expect(a[0].find(([h]) => h === "payment")?.[1]).toEqual({ id: "pay_a" });
    expect(b[0].find(([h]) => h === "payment")?.[1]).toEqual({ id: "pay_b" });
    router.match("GET", "/api/v1/payments/pay_a");
    expect(inner.searches).toBe(3);
    expect(router.size).toBe(0);
  });

  it("stays bounded under made-up paths, forgetting the oldest first", () => {
    const inner = new CountingRouter<string>();
    const router = new CachingRouter(inner, 8);
    routes(router);
    router.match("POST", "/api/v1/payments");
    for (let i = 0; i < 100; i++) router.match("GET", `/nowhere/${i}`);
    expect(router.size).toBe(8);
    const before = inner.searches;
    router.match("GET", "/nowhere/99");
    expect(inner.searches).toBe(before);
    router.match("POST", "/api/v1/payments");
    expect(inner.searches).toBe(before + 1);
  });

  it("forgets every match when a route is added", () => {
    const router = new CachingRouter(new TrieRouter<string>());
    router.add("ALL", "/*", "log");
    expect(handlersOf(router.match("GET", "/late"))).toEqual(["log"]);
    router.add("GET", "/late", "late");
    expect(handlersOf(router.match("GET", "/late"))).toEqual(["log", "late"]);
  });

  it("routes the app's requests as before: a static path beside a parameter, and parameters", async () => {
    expect(t.app.router).toBeInstanceOf(CachingRouter);
    const user = await registerAndLogin(t);
    for (let i = 0; i < 2; i++) {
      const history = await t.request("GET", "/api/v1/accounts/history", { token: user.access });
      expect(history.status).toBe(200);
      expect(Array.isArray(history.body.data)).toBe(true);
      const account = await t.request("GET", `/api/v1/accounts/${user.accountNumber}`, {
        token: user.access,
      });
      expect(account.status).toBe(200);
      expect(account.body.account_number).toBe(user.accountNumber);
      expect((await t.request("GET", "/api/v1/no-such-route")).status).toBe(404);
    }
  });
});
