import { Validator } from "@seriousme/openapi-schema-validator";
import { describe, expect, it } from "vitest";
import { useApp } from "./support/app.ts";

const t = await useApp();

/** Routes anyone may call: they authenticate by what they carry in the body, or create the user. */
const PUBLIC = new Set([
  "post /api/v1/auth/register",
  "post /api/v1/auth/login",
  "post /api/v1/auth/refresh",
  "post /api/v1/auth/logout",
]);

const METHODS = ["get", "put", "post", "delete", "patch"] as const;

async function spec(): Promise<any> {
  const res = await t.request("GET", "/openapi.json");
  if (res.status !== 200) {
    // The route answers an opaque 500; building the document directly shows why.
    t.app.getOpenAPI31Document({ openapi: "3.1.0", info: { title: "debug", version: "0" } });
  }
  expect(res.status).toBe(200);
  return res.body;
}

function operations(doc: any): { key: string; path: string; op: any }[] {
  return Object.entries(doc.paths as Record<string, any>).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m]).map((m) => ({ key: `${m} ${path}`, path, op: item[m] })),
  );
}

describe("/openapi.json", () => {
  it("is a valid OpenAPI 3.1 document", async () => {
    const doc = await spec();
    expect(doc.openapi).toBe("3.1.0");
    const validator = new Validator();
    const result = await validator.validate(doc);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
  });

  it("documents every auth, API key and account route", async () => {
    const keys = new Set(operations(await spec()).map((o) => o.key));
    for (const key of [
      "post /api/v1/auth/register",
      "post /api/v1/auth/login",
      "post /api/v1/auth/refresh",
      "post /api/v1/auth/logout",
      "get /api/v1/auth/me",
      "post /api/v1/api-keys",
      "get /api/v1/api-keys",
      "get /api/v1/api-keys/{id}",
      "delete /api/v1/api-keys/{id}",
      "post /api/v1/accounts",
      "get /api/v1/accounts",
      "get /api/v1/accounts/history",
      "get /api/v1/accounts/{account_number}",
      "get /api/v1/accounts/{account_number}/balance",
      "get /api/v1/accounts/{account_number}/history",
    ]) {
      expect(keys, key).toContain(key);
    }
  });

  it("every /api/v1 route declares its problem+json errors, and protected ones the bearer scheme", async () => {
    const ops = operations(await spec()).filter((o) => o.path.startsWith("/api/v1/"));
    expect(ops.length).toBeGreaterThan(10);
    // Collected, not thrown one by one: a failure lists every route that breaks the rules.
    const problems: string[] = [];
    for (const { key, op } of ops) {
      const statuses = Object.keys(op.responses);
      const errors = statuses.filter((s) => /^[45]\d\d$/.test(s));
      if (errors.length === 0) problems.push(`${key}: no error responses`);
      for (const s of errors) {
        if (!op.responses[s].content?.["application/problem+json"])
          problems.push(`${key}: ${s} is not problem+json`);
      }
      const hasQuery = (op.parameters ?? []).some((p: any) => p.in === "query");
      if ((op.requestBody || hasQuery) && !statuses.includes("422"))
        problems.push(`${key}: takes input, no 422`);
      if (op.requestBody && !statuses.includes("400")) problems.push(`${key}: has a body, no 400`);
      if (PUBLIC.has(key)) {
        if ((op.security ?? []).length > 0) problems.push(`${key}: public but declares security`);
      } else {
        if (JSON.stringify(op.security) !== JSON.stringify([{ bearerAuth: [] }]))
          problems.push(`${key}: protected but no bearer security`);
        if (!statuses.includes("401")) problems.push(`${key}: protected but no 401`);
      }
    }
    expect(problems).toEqual([]);
  });

  it("role-restricted routes declare 403, and routes addressing a resource declare 404", async () => {
    const ops = operations(await spec());
    const find = (key: string) => ops.find((o) => o.key === key)!.op;
    for (const key of [
      "post /api/v1/api-keys",
      "get /api/v1/api-keys",
      "get /api/v1/api-keys/{id}",
      "delete /api/v1/api-keys/{id}",
      "post /api/v1/accounts",
    ]) {
      expect(Object.keys(find(key).responses), key).toContain("403");
    }
    for (const key of [
      "get /api/v1/api-keys/{id}",
      "delete /api/v1/api-keys/{id}",
      "get /api/v1/accounts/{account_number}",
      "get /api/v1/accounts/{account_number}/balance",
      "get /api/v1/accounts/{account_number}/history",
    ]) {
      expect(Object.keys(find(key).responses), key).toContain("404");
    }
    expect(Object.keys(find("post /api/v1/auth/login").responses)).toContain("429");
    expect(Object.keys(find("post /api/v1/auth/register").responses)).toContain("409");
  });

  it("every idempotent POST documents the idempotency-key header, and no other operation does", async () => {
    const doc = await spec();
    const idempotent = [
      "post /api/v1/payments",
      "post /api/v1/transfer",
      "post /api/v1/transfers",
      "post /api/v1/deposits",
      "post /api/v1/payments/{id}/capture",
      "post /api/v1/payments/{id}/cancel",
      "post /api/v1/refunds",
      "post /api/v1/payouts",
      "post /api/v1/payouts/{id}/mark-paid",
      "post /api/v1/payouts/{id}/mark-failed",
      "post /api/v1/ops/operations/{id}/retry",
      "post /api/v1/ops/operations/{id}/resolve",
    ];
    const documenting = operations(doc)
      .filter(({ op }) =>
        (op.parameters ?? []).some(
          (p: any) => p.in === "header" && p.name === "idempotency-key" && p.schema?.type === "string",
        ),
      )
      .map(({ key }) => key);
    expect(documenting.sort()).toEqual(idempotent.sort());
  });

  it("never documents a secret in a list or read response", async () => {
    const doc = await spec();
    expect(Object.keys(doc.components.schemas.ApiKey.properties)).not.toContain("key");
    expect(JSON.stringify(doc.components.schemas.NewApiKey)).toMatch(/"key"/);
    expect(JSON.stringify(doc.components.schemas.User)).not.toMatch(/password/);
  });
});

describe("/docs", () => {
  it("serves the interactive docs as HTML", async () => {
    const res = await t.app.request("/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/html/);
    expect(await res.text()).toMatch(/openapi\.json/);
  });

  it("loads its scripts and styles from this server, not a CDN", async () => {
    const html = await (await t.app.request("/docs")).text();
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThanOrEqual(2);
    for (const asset of assets) {
      expect(asset).toMatch(/^\/docs\/assets\//);
      expect((await t.app.request(asset)).status).toBe(200);
    }
  });
});
