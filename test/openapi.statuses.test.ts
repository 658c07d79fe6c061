import { describe, expect, it } from "vitest";
import { makeUser, useApp } from "./support/app.ts";
import { key } from "./support/payments.ts";

const t = await useApp();

const METHODS = ["get", "put", "post", "delete", "patch"] as const;

interface Operation {
  method: string;
  path: string;
  op: { responses: Record<string, unknown>; requestBody?: unknown };
}

interface Probe {
  name: string;
  /** The path to call, from the documented one ({param} placeholders filled by `fill`). */
  path: (fill: (id: string) => string) => string;
  headers?: Record<string, string>;
  body?: string;
  /** The status the probe must get from an authenticated caller (when it applies), if one. */
  expect?: (op: Operation) => number | undefined;
}

const fillWith = (template: string, id: string) => template.replace(/\{[^}]+\}/g, id);
const hasParams = (o: Operation) => o.path.includes("{");
const hasBody = (o: Operation) => o.op.requestBody !== undefined;

const PROBES: Probe[] = [
  { name: "a plain call with an empty JSON object", path: (fill) => fill("unknown_id"), body: "{}" },
  {
    name: "a body that is not JSON",
    path: (fill) => fill("unknown_id"),
    headers: { "content-type": "text/plain" },
    body: "amount=1",
    expect: (o) => (hasBody(o) ? 415 : undefined),
  },
  {
    name: "a JSON body without a Content-Type",
    path: (fill) => fill("unknown_id"),
    headers: { "content-type": "" },
    body: "{}",
    expect: (o) => (hasBody(o) ? 415 : undefined),
  },
  { name: "malformed JSON", path: (fill) => fill("unknown_id"), body: '{"a":' },
  {
    name: "a body over 64 KiB",
    path: (fill) => fill("unknown_id"),
    body: `"${"x".repeat(70_000)}"`,
    expect: () => 413,
  },
  { name: "a NUL in the query", path: (fill) => `${fill("unknown_id")}?q=%00`, expect: () => 400 },
  {
    name: "a malformed percent-encoding",
    path: (fill) => `${fill("unknown_id")}?q=%E0%A4%A`,
    expect: () => 400,
  },
  {
    name: "a NUL in the path",
    path: (fill) => fill("%00"),
    expect: (o) => (hasParams(o) ? 400 : undefined),
  },
  {
    name: "an over-long id in the path",
    path: (fill) => fill("a".repeat(300)),
    expect: (o) => (hasParams(o) ? 422 : undefined),
  },
  { name: "an unknown id", path: (fill) => fill("pay_0000000000000000000000") },
];

describe("every status an operation answers is documented in /openapi.json", async () => {
  const doc = (await t.request("GET", "/openapi.json")).body;
  const operations: Operation[] = Object.entries(doc.paths as Record<string, any>).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m]).map((method) => ({ method, path, op: item[method] })),
  );
  const admin = await makeUser(t.services, { role: "admin" });
  const merchant = await makeUser(t.services, { role: "merchant" });
  const customer = await makeUser(t.services, { role: "customer" });
  const callers = { admin: admin.token, merchant: merchant.token, customer: customer.token, anonymous: null };

  it("for each operation, caller and hostile input: a documented status, never a 5xx", async () => {
    expect(operations.length).toBeGreaterThan(30);
    const undocumented: string[] = [];
    const unexpected: string[] = [];
    for (const operation of operations) {
      for (const [caller, token] of Object.entries(callers)) {
        for (const probe of PROBES) {
          const path = probe.path((id) => fillWith(operation.path, id));
          const headers: Record<string, string> = {
            "content-type": "application/json",
            "Idempotency-Key": key(),
            ...probe.headers,
          };
          if (headers["content-type"] === "") delete headers["content-type"];
          if (token) headers.authorization = `Bearer ${token}`;
          const withBody = operation.method !== "get";
          // A GET with a body cannot be built here: its declared length is what the limit reads.
          if (!withBody && probe.body) headers["content-length"] = String(probe.body.length);
          const res = await t.app.request(path, {
            method: operation.method.toUpperCase(),
            headers,
            body: withBody ? probe.body : undefined,
          });
          const where = `${caller} ${operation.method.toUpperCase()} ${operation.path} with ${probe.name}: ${res.status}`;
          if (!(String(res.status) in operation.op.responses)) undocumented.push(where);
          if (res.status >= 400) {
            expect(res.headers.get("content-type"), where).toBe("application/problem+json");
          }
          const wanted = token && caller === "admin" ? probe.expect?.(operation) : undefined;
          if (wanted !== undefined && res.status !== wanted) unexpected.push(`${where}, wanted ${wanted}`);
          if (res.status === 415) {
            const problem = (await res.json()) as { code: string; detail: string };
            expect(problem.code).toBe("unsupported_media_type");
            expect(problem.detail).toContain("Content-Type: application/json");
          }
        }
      }
    }
    expect(undocumented).toEqual([]);
    expect(unexpected).toEqual([]);
  });

  it("documents the headers of 429 and 503 answers", () => {
    const payments = operations.find((o) => o.method === "post" && o.path === "/api/v1/payments")!;
    const responses = payments.op.responses as Record<string, { headers?: Record<string, unknown> }>;
    expect(Object.keys(responses["429"]?.headers ?? {})).toEqual([
      "Retry-After",
      "RateLimit",
      "RateLimit-Policy",
    ]);
    expect(Object.keys(responses["503"]?.headers ?? {})).toEqual(["Retry-After"]);
    expect(Object.keys(responses)).toEqual(
      expect.arrayContaining(["400", "401", "413", "415", "422", "429", "503"]),
    );
  });
});
