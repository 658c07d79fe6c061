import { describe, expect, it } from "vitest";
import { createApp } from "../api/app.ts";
import { hashPassword } from "../shared/auth/passwords.ts";
import { drainPartition } from "../shared/payments/posting.ts";
import { makeUser, type TestUser, useApp } from "./support/app.ts";
import { isolatedEnv } from "./support/isolated.ts";
import { key, pay, useWorkers } from "./support/payments.ts";
import { waitFor } from "./support/wait.ts";

// Its own database, no workers until a test starts them: the backlog is exactly what we accept.
const env = { ...(await isolatedEnv("ops")), METRICS_SAMPLE_MS: "0" };
const t = await useApp(env);
const admin = await makeUser(t.services, { role: "admin" });
const ops = await makeUser(t.services, { role: "ops" });
const customer = await makeUser(t.services, { balance: 100_000n });
const payee = await makeUser(t.services, { role: "merchant" });

async function accept(n: number, payer: TestUser = customer): Promise<string[]> {
  const res = await Promise.all(
    Array.from({ length: n }, () =>
      pay(t, payer, {
        from_account: payer.account.account_number,
        to_account: payee.account.account_number,
        amount: "1.00",
        currency: "USD",
      }),
    ),
  );
  for (const r of res) expect(r.status).toBe(202);
  return res.map((r) => r.body.id as string);
}

/** A metric's value from /metrics text, or undefined. */
async function scrape(name: string, labels = ""): Promise<number | undefined> {
  const text = (await t.request("GET", "/metrics")).body as string;
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ""} `));
  return line === undefined ? undefined : Number(line.split(" ").at(-1));
}

/** A payment whose posting cannot balance (its payee now in another currency), drained: set aside. */
async function setAsidePayment(): Promise<{ paymentId: string; operationId: string }> {
  const [paymentId] = await accept(1);
  const foreign = await makeUser(t.services, { currency: "EUR" });
  await t.services
    .sql`update payments set to_account = ${foreign.account.account_number} where id = ${paymentId!}`;
  await drainPartition(t.services, 0);
  const [op] = await t.services.sql<{ id: string; status: string }[]>`
    select id, status from operations where payment_id = ${paymentId!}`;
  expect(op?.status).toBe("failed");
  return { paymentId: paymentId!, operationId: op!.id };
}

describe("the backlog, from Postgres", () => {
  it("gauges and /ops/postings count the accepted, unposted work, and 0 once the workers run", async () => {
    await drainPartition(t.services, 0);
    await accept(30);
    const postings = await t.request("GET", "/api/v1/ops/postings", { token: ops.token });
    expect(postings.status).toBe(200);
    expect(postings.body).toMatchObject({ partitions: 1, data: [{ partition: 0, pending: 30 }] });
    expect(postings.body.data[0].oldest_pending_seconds).toBeGreaterThanOrEqual(0);
    expect(await scrape("payments_posting_backlog", 'partition="0"')).toBe(30);
    expect(await scrape("payments_posting_oldest_pending_seconds", 'partition="0"')).toBeGreaterThan(0);
    expect(await scrape("payments_dependency_up", 'dependency="postgres"')).toBe(1);

    const workers = await useWorkers(t.services);
    await waitFor(
      async () => ((await scrape("payments_posting_backlog", 'partition="0"')) === 0 ? true : null),
      {
        what: "the backlog to drain",
      },
    );
    expect(await scrape("payments_posting_oldest_pending_seconds", 'partition="0"')).toBe(0);
    const after = await t.request("GET", "/api/v1/ops/postings", { token: admin.token });
    expect(after.body.data[0]).toMatchObject({ pending: 0, oldest_pending_seconds: null });
    expect(after.body.data[0].last_drained_at).not.toBeNull();
    await workers.close(); // the other tests drive the engine by hand
  });
});

describe("set-aside operations", () => {
  it("are listed, retried (back in the queue, posted once fixed) and audited", async () => {
    const { paymentId, operationId } = await setAsidePayment();
    expect(await scrape("payments_operations_set_aside")).toBeGreaterThanOrEqual(1);
    const list = await t.request("GET", "/api/v1/ops/operations?status=failed", { token: ops.token });
    expect(list.status).toBe(200);
    const listed = list.body.data.find((o: { id: string }) => o.id === operationId);
    expect(listed).toMatchObject({
      object: "operation",
      kind: "payment",
      status: "failed",
      payment_id: paymentId,
      error: expect.stringMatching(/unbalanced/),
    });
    expect(listed.set_aside_at).not.toBeNull();

    // Ops fix the cause, then an admin retries it.
    await t.services
      .sql`update payments set to_account = ${payee.account.account_number} where id = ${paymentId}`;
    const retryKey = key();
    const retry = await t.request("POST", `/api/v1/ops/operations/${operationId}/retry`, {
      token: admin.token,
      headers: { "Idempotency-Key": retryKey, "x-request-id": `req-retry-${operationId}` },
    });
    expect(retry.status).toBe(200);
    expect(retry.body).toMatchObject({ id: operationId, status: "pending", retries: 1, error: null });
    // A replay of the same request is the same answer, and does nothing again.
    const replay = await t.request("POST", `/api/v1/ops/operations/${operationId}/retry`, {
      token: admin.token,
      headers: { "Idempotency-Key": retryKey },
    });
    expect(replay.status).toBe(200);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    await drainPartition(t.services, 0);
    const [posted] = await t.services.sql`select status from payments where id = ${paymentId}`;
    expect(posted?.status).toBe("succeeded");
    // Other posted operations leave the outbox; one that ops retried stays, done, as the record.
    const [kept] = await t.services.sql`select status, retries from operations where id = ${operationId}`;
    expect(kept).toEqual({ status: "done", retries: 1 });
    const [audit] = await t.services.sql`
      select actor_id, action, target_type, request_id from audit_log where target_id = ${operationId}`;
    expect(audit).toEqual({
      actor_id: admin.id,
      action: "operation.retry",
      target_type: "operation",
      request_id: `req-retry-${operationId}`,
    });
    // Not set aside any more: 409.
    const again = await t.request("POST", `/api/v1/ops/operations/${operationId}/retry`, {
      token: admin.token,
      headers: { "Idempotency-Key": key() },
    });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe("operation_not_set_aside");
  });

  it("resolve closes one without posting, with a reason: the payment fails and its parties are told", async () => {
    const { paymentId, operationId } = await setAsidePayment();
    const missing = await t.request("POST", `/api/v1/ops/operations/${operationId}/resolve`, {
      token: admin.token,
      body: {},
      headers: { "Idempotency-Key": key() },
    });
    expect(missing.status).toBe(422);
    const res = await t.request("POST", `/api/v1/ops/operations/${operationId}/resolve`, {
      token: admin.token,
      body: { reason: "payee closed by compliance" },
      headers: { "Idempotency-Key": key() },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: "resolved",
      resolution: "payee closed by compliance",
      resolved_by: admin.id,
    });
    const [p] = await t.services.sql`select status, failure_code from payments where id = ${paymentId}`;
    expect(p).toEqual({ status: "failed", failure_code: "processing_error" });
    const events = await t.services.sql`select type from events where payment_id = ${paymentId}`;
    expect(events.map((e) => e.type)).toEqual(["payment.failed"]);
    const audits = await t.services.sql`select action from audit_log where target_id = ${operationId}`;
    expect(audits.map((a) => a.action)).toEqual(["operation.resolve"]);
  });

  it("refuses what it must: roles, unknown ids, bad input", async () => {
    const { operationId } = await setAsidePayment();
    const post = (token: string | undefined, id = operationId, verb = "retry") =>
      t.request("POST", `/api/v1/ops/operations/${id}/${verb}`, {
        token,
        body: verb === "resolve" ? { reason: "x" } : undefined,
        headers: { "Idempotency-Key": key() },
      });
    expect((await post(undefined)).status).toBe(401);
    expect((await post(customer.token)).status).toBe(403);
    expect((await post(ops.token)).status).toBe(403); // ops read; writes are admin only
    expect((await post(ops.token, operationId, "resolve")).status).toBe(403);
    expect((await post(admin.token, "op_00000000000000000000000000")).status).toBe(404);
    expect((await post(admin.token, "op_00000000000000000000000000", "resolve")).status).toBe(404);
    expect((await t.request("GET", "/api/v1/ops/operations", { token: customer.token })).status).toBe(403);
    expect((await t.request("GET", "/api/v1/ops/postings", { token: customer.token })).status).toBe(403);
    expect((await t.request("GET", "/api/v1/ops/postings")).status).toBe(401);
    const bad = await t.request("GET", "/api/v1/ops/operations?status=lost", { token: ops.token });
    expect(bad.status).toBe(422);
    const badCursor = await t.request("GET", "/api/v1/ops/operations?cursor=xyz", { token: ops.token });
    expect(badCursor.status).toBe(422);
    // Nothing above changed it.
    const [op] = await t.services.sql`select status, retries from operations where id = ${operationId}`;
    expect(op).toEqual({ status: "failed", retries: 0 });
    expect((await t.services.sql`select 1 from audit_log where target_id = ${operationId}`).length).toBe(0);
  });

  it("pages the list with a cursor, newest first", async () => {
    const first = await setAsidePayment();
    const second = await setAsidePayment();
    const page1 = await t.request("GET", "/api/v1/ops/operations?status=failed&limit=1", {
      token: ops.token,
    });
    expect(page1.body.data.map((o: { id: string }) => o.id)).toEqual([second.operationId]);
    expect(page1.body.has_more).toBe(true);
    const page2 = await t.request(
      "GET",
      `/api/v1/ops/operations?status=failed&limit=1&cursor=${page1.body.next_cursor}`,
      { token: ops.token },
    );
    expect(page2.body.data.map((o: { id: string }) => o.id)).toEqual([first.operationId]);
  });
});

describe("the pipeline page", () => {
  const basic = (email: string, password: string) =>
    `Basic ${Buffer.from(`${email}:${password}`).toString("base64")}`;

  it("shows the backlog and set-aside operations to ops, and lets an admin retry from it (same origin only)", async () => {
    const password = "correct horse battery";
    const hash = await hashPassword(password, t.services.config.BCRYPT_COST);
    await t.services
      .sql`update users set password_hash = ${hash} where id = any(${[admin.id, ops.id]}::text[])`;
    const { operationId } = await setAsidePayment();

    expect((await t.app.request("/ops/pipeline")).status).toBe(401);
    const asOps = await t.app.request("/ops/pipeline", {
      headers: { authorization: basic(ops.email, password) },
    });
    expect(asOps.status).toBe(200);
    const html = await asOps.text();
    expect(html).toContain("Posting backlog");
    expect(html).toContain(operationId);
    expect(html).not.toContain(`/ops/pipeline/operations/${operationId}/retry`); // ops see, admins act
    const asCustomer = await t.app.request("/ops/pipeline", {
      headers: { authorization: `Bearer ${customer.token}` },
    });
    expect(asCustomer.status).toBe(403);

    const form = new URLSearchParams({ idempotency_key: key() }).toString();
    const headers = {
      authorization: basic(admin.email, password),
      "content-type": "application/x-www-form-urlencoded",
    };
    const crossSite = await t.app.request(`http://localhost/ops/pipeline/operations/${operationId}/retry`, {
      method: "POST",
      headers: { ...headers, origin: "https://evil.example" },
      body: form,
    });
    expect(crossSite.status).toBe(403);
    const byOps = await t.app.request(`http://localhost/ops/pipeline/operations/${operationId}/retry`, {
      method: "POST",
      headers: { ...headers, authorization: basic(ops.email, password), origin: "http://localhost" },
      body: form,
    });
    expect(byOps.status).toBe(403);
    const [still] = await t.services.sql`select status from operations where id = ${operationId}`;
    expect(still?.status).toBe("failed");

    const retried = await t.app.request(`http://localhost/ops/pipeline/operations/${operationId}/retry`, {
      method: "POST",
      headers: { ...headers, origin: "http://localhost" },
      body: form,
    });
    expect(retried.status).toBe(303);
    expect(decodeURIComponent(retried.headers.get("location") ?? "")).toContain("is pending again");
    const [op] = await t.services.sql`select status from operations where id = ${operationId}`;
    expect(op?.status).not.toBe("failed");
  });
});

describe("METRICS_TOKEN", () => {
  it("when set, /metrics needs the bearer token", async () => {
    const token = "metrics-token-0123456789abcdef";
    const app = createApp({ ...t.services, config: { ...t.services.config, METRICS_TOKEN: token } });
    const none = await app.request("/metrics");
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect(none.headers.get("content-type")).toBe("application/problem+json");
    expect(
      (await app.request("/metrics", { headers: { authorization: "Bearer wrong-token-0123456789abcd" } }))
        .status,
    ).toBe(401);
    expect(
      (await app.request("/metrics", { headers: { authorization: `Bearer ${customer.token}` } })).status,
    ).toBe(401);
    const ok = await app.request("/metrics", { headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain("payments_posting_backlog");
    // Unset: open, as before (for private networks only).
    expect((await t.app.request("/metrics")).status).toBe(200);
  });
});
