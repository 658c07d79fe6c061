/**
 * The audit log: every audited action leaves exactly one row (actor, action, target, request id)
 * in its own transaction, refused actions leave none, rows can never change, and admins read them
 * through GET /api/v1/ops/audit-log.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { AuditRow } from "../shared/audit.ts";
import { makeUser, type TestUser, useApp } from "./support/app.ts";
import { expectFieldError, expectProblem } from "./support/auth.ts";
import { key } from "./support/payments.ts";

const t = await useApp();
const URL_A = "https://93.184.215.14/hooks";
const URL_B = "https://1.1.1.1/other";

function requestId(): string {
  return `req-audit-${randomUUID()}`;
}

/** Every column but `seq` (a bigint, which JSON.stringify refuses). */
const COLUMNS = t.services
  .sql`id, actor_id, actor_role, api_key_id, action, target_type, target_id, request_id,
                               before, after, created_at`;

/** The rows one request left. */
function rowsOf(reqId: string) {
  return t.services.sql<Omit<AuditRow, "seq">[]>`
    select ${COLUMNS} from audit_log where request_id = ${reqId} order by seq`;
}

/** Everything the log holds about a target, as text. */
async function loggedAbout(targetId: string): Promise<string> {
  return JSON.stringify(await t.services.sql`select ${COLUMNS} from audit_log where target_id = ${targetId}`);
}

function send(user: TestUser, method: string, path: string, reqId: string, body?: unknown) {
  return t.request(method, path, { token: user.token, body, headers: { "x-request-id": reqId } });
}

function deposit(admin: TestUser, reqId: string, body: Record<string, unknown>, idemKey = key()) {
  return t.request("POST", "/api/v1/deposits", {
    token: admin.token,
    body,
    headers: { "x-request-id": reqId, "Idempotency-Key": idemKey },
  });
}

/** Exactly one row for the request, with these fields. */
async function expectOne(reqId: string, user: TestUser, action: string, target: [string, string]) {
  const rows = await rowsOf(reqId);
  expect(rows, JSON.stringify(rows)).toHaveLength(1);
  const [row] = rows;
  expect(row).toMatchObject({
    actor_id: user.id,
    actor_role: user.role,
    api_key_id: null,
    action,
    target_type: target[0],
    target_id: target[1],
    request_id: reqId,
  });
  expect(row!.id).toMatch(/^aud_/);
  expect(row!.created_at).toBeInstanceOf(Date);
  return row!;
}

describe("deposit.create", () => {
  it("audits a deposit with its actor, target and request id, once however often it is replayed", async () => {
    const admin = await makeUser(t.services, { role: "admin" });
    const alice = await makeUser(t.services);
    const reqId = requestId();
    const idemKey = key();
    const body = { account_number: alice.account.account_number, amount: "12.50", currency: "USD" };
    const res = await deposit(admin, reqId, { ...body, description: "wire 7" }, idemKey);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.headers.get("x-request-id")).toBe(reqId);
    const row = await expectOne(reqId, admin, "deposit.create", ["payment", res.body.id]);
    expect(row.before).toBeNull();
    expect(row.after).toEqual({ ...body, description: "wire 7" });
    const replay = await deposit(admin, requestId(), { ...body, description: "wire 7" }, idemKey);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    const all = await t.services.sql`select 1 from audit_log where target_id = ${res.body.id}`;
    expect(all).toHaveLength(1);
  });

  it("audits each deposit of a group once, and no payment or transfer", async () => {
    const admin = await makeUser(t.services, { role: "admin" });
    const alice = await makeUser(t.services, { balance: 10_000n });
    const bob = await makeUser(t.services);
    const ids = Array.from({ length: 6 }, requestId);
    const results = await Promise.all([
      ...ids.map((reqId, i) =>
        deposit(admin, reqId, {
          account_number: (i % 2 ? alice : bob).account.account_number,
          amount: `${i + 1}.00`,
          currency: "USD",
        }),
      ),
      send(alice, "POST", "/api/v1/payments", requestId(), {
        from_account: alice.account.account_number,
        to_account: bob.account.account_number,
        amount: "1.00",
        currency: "USD",
        idempotency_key: key(),
      }),
      send(alice, "POST", "/api/v1/transfers", requestId(), {
        to: bob.email,
        amount: "1.00",
        currency: "USD",
        idempotency_key: key(),
      }),
    ]);
    for (const res of results) expect(res.status, JSON.stringify(res.body)).toBe(202);
    for (const [i, reqId] of ids.entries()) {
      const row = await expectOne(reqId, admin, "deposit.create", ["payment", results[i]!.body.id]);
      expect((row.after as { amount: string }).amount).toBe(`${i + 1}.00`);
    }
    const moved = results.slice(ids.length).map((r) => r.body.id as string);
    expect(
      await t.services.sql`select 1 from audit_log where target_id = any(${moved}::text[])`,
    ).toHaveLength(0);
    expect(await t.services.sql`select 1 from audit_log where actor_id = ${alice.id}`).toHaveLength(0);
  });

  it("leaves no row for a refused deposit", async () => {
    const admin = await makeUser(t.services, { role: "admin" });
    const merchant = await makeUser(t.services, { role: "merchant" });
    const alice = await makeUser(t.services);
    const forbidden = requestId();
    expectProblem(
      await deposit(merchant, forbidden, {
        account_number: alice.account.account_number,
        amount: "1.00",
        currency: "USD",
      }),
      403,
    );
    const missing = requestId();
    expectProblem(
      await deposit(admin, missing, { account_number: "ACC_NOPE", amount: "1.00", currency: "USD" }),
      404,
    );
    const mismatch = requestId();
    expectProblem(
      await deposit(admin, mismatch, {
        account_number: alice.account.account_number,
        amount: "1.00",
        currency: "EUR",
      }),
      422,
    );
    for (const reqId of [forbidden, missing, mismatch]) expect(await rowsOf(reqId)).toHaveLength(0);
  });
});

describe("api_key.create and api_key.revoke", () => {
  it("audits creating and revoking a key, never its secret or hash, and a repeated revoke not again", async () => {
    const merchant = await makeUser(t.services, { role: "merchant" });
    const created = requestId();
    const res = await send(merchant, "POST", "/api/v1/api-keys", created, { name: "shop" });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const id = res.body.id as string;
    const row = await expectOne(created, merchant, "api_key.create", ["api_key", id]);
    expect(row.after).toEqual({ name: "shop" });
    const revoked = requestId();
    expect((await send(merchant, "DELETE", `/api/v1/api-keys/${id}`, revoked)).status).toBe(200);
    const revokeRow = await expectOne(revoked, merchant, "api_key.revoke", ["api_key", id]);
    expect(revokeRow.before).toEqual({ name: "shop", revoked_at: null });
    expect((revokeRow.after as { revoked_at: string }).revoked_at).toMatch(/Z$/);
    const again = requestId();
    expect((await send(merchant, "DELETE", `/api/v1/api-keys/${id}`, again)).status).toBe(200);
    expect(await rowsOf(again)).toHaveLength(0);
    const [{ key_hash }] = await t.services.sql<[{ key_hash: string }]>`
      select key_hash from api_keys where id = ${id}`;
    const logged = await loggedAbout(id);
    expect(logged).not.toContain(res.body.key);
    expect(logged).not.toContain(res.body.key.slice(3));
    expect(logged).not.toContain(key_hash);
  });

  it("leaves no row for a refused create or revoke", async () => {
    const customer = await makeUser(t.services);
    const merchant = await makeUser(t.services, { role: "merchant" });
    const other = await makeUser(t.services, { role: "merchant" });
    const refused = requestId();
    expectProblem(await send(customer, "POST", "/api/v1/api-keys", refused, {}), 403);
    const res = await send(other, "POST", "/api/v1/api-keys", requestId(), {});
    const notMine = requestId();
    expectProblem(await send(merchant, "DELETE", `/api/v1/api-keys/${res.body.id}`, notMine), 404);
    for (const reqId of [refused, notMine]) expect(await rowsOf(reqId)).toHaveLength(0);
  });
});

describe("webhook_endpoint.*", () => {
  it("audits create, update, rotate_secret and delete with before and after, never a secret", async () => {
    const user = await makeUser(t.services, { role: "merchant" });
    const reqs = { create: requestId(), update: requestId(), rotate: requestId(), delete: requestId() };
    const created = await send(user, "POST", "/api/v1/webhook-endpoints", reqs.create, {
      url: URL_A,
      events: ["*"],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    const target: [string, string] = ["webhook_endpoint", id];
    const c = await expectOne(reqs.create, user, "webhook_endpoint.create", target);
    expect(c.before).toBeNull();
    expect(c.after).toMatchObject({ id, url: URL_A, events: ["*"], enabled: true });

    const patch = { url: URL_B, enabled: false };
    expect((await send(user, "PATCH", `/api/v1/webhook-endpoints/${id}`, reqs.update, patch)).status).toBe(
      200,
    );
    const u = await expectOne(reqs.update, user, "webhook_endpoint.update", target);
    expect(u.before).toMatchObject({ url: URL_A, enabled: true });
    expect(u.after).toMatchObject({ url: URL_B, enabled: false, disabled_reason: "Disabled by its owner." });

    const rotated = await send(user, "POST", `/api/v1/webhook-endpoints/${id}/rotate-secret`, reqs.rotate);
    expect(rotated.status).toBe(200);
    const r = await expectOne(reqs.rotate, user, "webhook_endpoint.rotate_secret", target);
    expect(r.before).toMatchObject({ previous_secret_expires_at: null });
    expect(r.after).toMatchObject({ previous_secret_expires_at: rotated.body.previous_secret_expires_at });

    expect((await send(user, "DELETE", `/api/v1/webhook-endpoints/${id}`, reqs.delete)).status).toBe(200);
    const d = await expectOne(reqs.delete, user, "webhook_endpoint.delete", target);
    expect(d.before).toMatchObject({ id, url: URL_B });
    expect(d.after).toBeNull();

    const logged = await loggedAbout(id);
    for (const secret of [created.body.secret, rotated.body.secret]) {
      expect(logged).not.toContain(secret.slice(6));
    }
    expect(logged).not.toContain('"secret"');
  });

  it("records who acted: an admin changing someone's endpoint", async () => {
    const owner = await makeUser(t.services);
    const admin = await makeUser(t.services, { role: "admin" });
    const created = await send(owner, "POST", "/api/v1/webhook-endpoints", requestId(), {
      url: URL_A,
      events: ["*"],
    });
    const reqId = requestId();
    const patch = { description: "checked by ops" };
    const path = `/api/v1/webhook-endpoints/${created.body.id}`;
    expect((await send(admin, "PATCH", path, reqId, patch)).status).toBe(200);
    await expectOne(reqId, admin, "webhook_endpoint.update", ["webhook_endpoint", created.body.id]);
  });

  it("leaves no row for a refused change", async () => {
    const owner = await makeUser(t.services);
    const stranger = await makeUser(t.services, { role: "merchant" });
    const created = await send(owner, "POST", "/api/v1/webhook-endpoints", requestId(), {
      url: URL_A,
      events: ["*"],
    });
    const id = created.body.id as string;
    const refused = {
      badUrl: requestId(),
      update: requestId(),
      rotate: requestId(),
      delete: requestId(),
    };
    const bad = await send(owner, "POST", "/api/v1/webhook-endpoints", refused.badUrl, {
      url: "http://127.0.0.1/x",
      events: ["*"],
    });
    expect(bad.status).toBe(422);
    const path = `/api/v1/webhook-endpoints/${id}`;
    expectProblem(await send(stranger, "PATCH", path, refused.update, { enabled: false }), 404);
    expectProblem(await send(stranger, "POST", `${path}/rotate-secret`, refused.rotate), 404);
    expectProblem(await send(stranger, "DELETE", path, refused.delete), 404);
    for (const reqId of Object.values(refused)) expect(await rowsOf(reqId)).toHaveLength(0);
    expect(await t.services.sql`select 1 from audit_log where target_id = ${id}`).toHaveLength(1);
  });
});

describe("one transaction with the action", () => {
  it("an action whose audit row cannot be written does not happen", async () => {
    // A trigger refusing the audit rows of one request id only, so other test files are not disturbed.
    const reqId = requestId();
    const fn = `audit_test_refuse_${randomUUID().replaceAll("-", "")}`;
    await t.services.sql.unsafe(
      `create function ${fn}() returns trigger language plpgsql as $$
       begin raise exception 'audit refused for the test'; end $$`,
    );
    await t.services.sql.unsafe(
      `create trigger ${fn} before insert on audit_log for each row
         when (new.request_id = '${reqId}') execute function ${fn}()`,
    );
    try {
      const admin = await makeUser(t.services, { role: "admin" });
      const alice = await makeUser(t.services);
      const idemKey = key();
      const body = { account_number: alice.account.account_number, amount: "3.00", currency: "USD" };
      expect((await deposit(admin, reqId, body, idemKey)).status).toBe(500);
      expect(await t.services.sql`select 1 from payments where created_by = ${admin.id}`).toHaveLength(0);

      const endpoint = await send(alice, "POST", "/api/v1/webhook-endpoints", reqId, {
        url: URL_A,
        events: ["*"],
      });
      expect(endpoint.status).toBe(500);
      expect(await t.services.sql`select 1 from webhook_endpoints where user_id = ${alice.id}`).toHaveLength(
        0,
      );

      // Nothing was left behind: the same idempotency key is handled as new once the audit row can be written.
      const retried = await deposit(admin, requestId(), body, idemKey);
      expect(retried.status).toBe(202);
      expect(retried.headers.get("idempotent-replayed")).toBeNull();
    } finally {
      await t.services.sql.unsafe(`drop trigger ${fn} on audit_log`);
      await t.services.sql.unsafe(`drop function ${fn}()`);
    }
    expect(await rowsOf(reqId)).toHaveLength(0);
  });
});

describe("append-only", () => {
  it("refuses UPDATE, DELETE and TRUNCATE", async () => {
    const user = await makeUser(t.services, { role: "merchant" });
    const reqId = requestId();
    await send(user, "POST", "/api/v1/api-keys", reqId, {});
    const [row] = await rowsOf(reqId);
    const refused = /audit_log is append-only/;
    await expect(
      t.services.sql`update audit_log set action = 'api_key.revoke' where id = ${row!.id}`,
    ).rejects.toThrow(refused);
    await expect(t.services.sql`delete from audit_log where id = ${row!.id}`).rejects.toThrow(refused);
    // In a transaction that rolls back whatever happens: a broken trigger must not empty the shared table.
    await expect(
      t.services.sql.begin(async (tx) => {
        await tx`truncate audit_log`;
        throw new Error("truncate went through");
      }),
    ).rejects.toThrow(refused);
    expect(await rowsOf(reqId)).toEqual([row]);
  });
});

describe("GET /api/v1/ops/audit-log", () => {
  async function actions(user: TestUser) {
    const ids: string[] = [];
    for (const url of [URL_A, URL_B, URL_A]) {
      const res = await send(user, "POST", "/api/v1/webhook-endpoints", requestId(), { url, events: ["*"] });
      ids.push(res.body.id);
    }
    await send(user, "PATCH", `/api/v1/webhook-endpoints/${ids[0]}`, requestId(), { description: "x" });
    return ids;
  }

  it("shows an admin the rows, newest first, filtered and paginated", async () => {
    const admin = await makeUser(t.services, { role: "admin" });
    const user = await makeUser(t.services, { role: "merchant" });
    const ids = await actions(user);
    const get = (query: string) => t.request("GET", `/api/v1/ops/audit-log?${query}`, { token: admin.token });

    const mine = await get(`actor_id=${user.id}`);
    expect(mine.status, JSON.stringify(mine.body)).toBe(200);
    expect(mine.body.has_more).toBe(false);
    expect(mine.body.next_cursor).toBeNull();
    expect(mine.body.data.map((e: { action: string; target_id: string }) => [e.action, e.target_id])).toEqual(
      [
        ["webhook_endpoint.update", ids[0]],
        ["webhook_endpoint.create", ids[2]],
        ["webhook_endpoint.create", ids[1]],
        ["webhook_endpoint.create", ids[0]],
      ],
    );
    const [first] = mine.body.data;
    expect(first).toMatchObject({
      object: "audit_entry",
      actor_id: user.id,
      actor_role: "merchant",
      api_key_id: null,
      target_type: "webhook_endpoint",
      before: { description: null },
      after: { description: "x" },
    });
    expect(first.id).toMatch(/^aud_/);
    expect(first.request_id).toMatch(/^req-audit-/);
    expect(first.created_at).toMatch(/Z$/);

    const creates = await get(`actor_id=${user.id}&action=webhook_endpoint.create`);
    expect(creates.body.data).toHaveLength(3);
    const target = await get(`target_type=webhook_endpoint&target_id=${ids[0]}`);
    expect(target.body.data.map((e: { action: string }) => e.action)).toEqual([
      "webhook_endpoint.update",
      "webhook_endpoint.create",
    ]);
    expect((await get(`target_type=api_key&target_id=${ids[0]}`)).body.data).toEqual([]);

    const page1 = await get(`actor_id=${user.id}&limit=3`);
    expect(page1.body.data).toHaveLength(3);
    expect(page1.body.has_more).toBe(true);
    const page2 = await get(`actor_id=${user.id}&limit=3&cursor=${page1.body.next_cursor}`);
    expect(page2.body).toMatchObject({ has_more: false, next_cursor: null });
    expect([...page1.body.data, ...page2.body.data]).toEqual(mine.body.data);

    // Unfiltered: everyone's rows, the newest of them first.
    const all = await get("limit=100");
    expect(all.status).toBe(200);
    expect(all.body.data.length).toBeGreaterThanOrEqual(4);
  });

  it("is for admins only", async () => {
    for (const role of ["ops", "merchant", "customer"] as const) {
      const user = await makeUser(t.services, { role });
      expectProblem(await t.request("GET", "/api/v1/ops/audit-log", { token: user.token }), 403);
    }
    expectProblem(await t.request("GET", "/api/v1/ops/audit-log"), 401);
    expectProblem(await t.request("GET", "/api/v1/ops/audit-log", { token: "not-a-token" }), 401);
  });

  it("answers bad filters with 422 and a pointer", async () => {
    const admin = await makeUser(t.services, { role: "admin" });
    const get = (query: string) => t.request("GET", `/api/v1/ops/audit-log?${query}`, { token: admin.token });
    expectFieldError(await get("action=Deposit"), "/query/action");
    expectFieldError(await get("action=deposit"), "/query/action");
    expectFieldError(await get("actor_id=nobody"), "/query/actor_id");
    expectFieldError(await get(`actor_id=${"usr_".padEnd(200, "A")}`), "/query/actor_id");
    expectFieldError(await get("target_type=Payment"), "/query/target_type");
    expectFieldError(await get("target_id=pay_01JD3ZJ9K4T6W8X2Y4Z6A8B0C2"), "/query/target_id");
    expectFieldError(await get("limit=0"), "/query/limit");
    expectFieldError(await get("limit=101"), "/query/limit");
    expectFieldError(await get("cursor=bm9wZQ"), "/query/cursor");
  });
});
