import { randomUUID } from "node:crypto";
import { expect } from "vitest";
import type { TestApp } from "./app.ts";

/** Helpers for the auth and account tests: real requests through the app, no shortcuts. */

export function uniqueEmail(tag = "user"): string {
  return `${tag}-${randomUUID()}@example.test`;
}

let addressCounter = 0;
/**
 * A client address of its own per call (10.x.y.z), so the per-address login throttle of one test
 * never sees another test's failures (all test files share one database).
 */
export function uniqueAddress(): string {
  addressCounter += 1;
  const n = (process.pid * 7919 + addressCounter) % 16_777_216;
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

/** A request as @hono/node-server would hand it over, with the socket's peer address. */
export async function requestFrom(
  t: TestApp,
  address: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await t.app.request(
    path,
    {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    },
    { incoming: { socket: { remoteAddress: address } } },
  );
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

export function login(t: TestApp, email: string, password: string, address = uniqueAddress()) {
  return requestFrom(t, address, "POST", "/api/v1/auth/login", { email, password });
}

export interface Registered {
  id: string;
  email: string;
  password: string;
  accountNumber: string;
  access: string;
  refresh: string;
}

/** Registers through the API and logs in. */
export async function registerAndLogin(
  t: TestApp,
  opts: { role?: "customer" | "merchant"; password?: string; currency?: string } = {},
): Promise<Registered> {
  const email = uniqueEmail(opts.role ?? "customer");
  const password = opts.password ?? `pw-${randomUUID()}`;
  const reg = await t.request("POST", "/api/v1/auth/register", {
    body: { email, password, role: opts.role, currency: opts.currency },
  });
  expect(reg.status).toBe(201);
  const res = await login(t, email, password);
  expect(res.status).toBe(200);
  return {
    id: reg.body.user.id,
    email,
    password,
    accountNumber: reg.body.account.account_number,
    access: res.body.access_token,
    refresh: res.body.refresh_token,
  };
}

/** A problem+json answer with the given status and code. */
export function expectProblem(
  res: { status: number; body: any; headers: Headers },
  status: number,
  code?: string,
): void {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status, type: expect.any(String), title: expect.any(String) });
  expect(typeof res.body.request_id).toBe("string");
  if (code) expect(res.body.code).toBe(code);
}

/** A 422 naming the field by JSON pointer. */
export function expectFieldError(
  res: { status: number; body: any; headers: Headers },
  pointer: string,
): void {
  expectProblem(res, 422);
  expect(res.body.errors.map((e: { pointer: string }) => e.pointer)).toContain(pointer);
}
