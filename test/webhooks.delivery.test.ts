/**
 * Webhook delivery end to end: real payments posted by in-process workers, events dispatched to
 * endpoints, signed POSTs to a real receiver on loopback, verified with the reference
 * `standardwebhooks` library. A database and queue namespace of this file's own, so no other test
 * file's workers (with other webhook settings) take these deliveries.
 */
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { newId } from "../shared/ids.ts";
import { deliveryJobId } from "../shared/jobs.ts";
import { deliverAttempt } from "../shared/webhooks/deliver.ts";
import { makeUser, type TestUser, useApp } from "./support/app.ts";
import { isolatedEnv } from "./support/isolated.ts";
import { pay, settled, useWorkers } from "./support/payments.ts";
import { type Received, uniquePath, useReceiver } from "./support/receiver.ts";
import { waitFor } from "./support/wait.ts";

const env = {
  ...(await isolatedEnv("webhooks")),
  WEBHOOK_ALLOW_PRIVATE_TARGETS: "true",
  WEBHOOK_RETRY_SCHEDULE: "1,1,1",
  RECONCILE_INTERVAL_MS: "500",
  RECONCILE_GRACE_MS: "1000",
};
const t = await useApp(env);
const workers = await useWorkers(t.services);
const rx = await useReceiver();

async function createEndpoint(user: TestUser, path: string, events: string[] = ["*"]) {
  const res = await t.request("POST", "/api/v1/webhook-endpoints", {
    token: user.token,
    body: { url: rx.url(path), events, description: "test receiver" },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string; secret: string };
}

/** A payment from `payer` to `payee`, posted; with its event id. */
async function paid(payer: TestUser, payee: TestUser, amount = "1.00") {
  const res = await pay(t, payer, {
    from_account: payer.account.account_number,
    to_account: payee.account.account_number,
    amount,
    currency: "USD",
  });
  expect(res.status).toBe(202);
  const [row] = await settled(t.services, [res.body.id]);
  const [evt] = await t.services.sql<{ id: string; type: string }[]>`
    select id, type from events where payment_id = ${res.body.id}`;
  return { paymentId: res.body.id as string, status: row!.status, eventId: evt!.id, eventType: evt!.type };
}

/** The endpoint's attempts through the API, oldest first. */
async function attemptsOf(user: TestUser, endpointId: string, count = 0) {
  return waitFor(
    async () => {
      const res = await t.request("GET", `/api/v1/webhook-endpoints/${endpointId}/deliveries?limit=100`, {
        token: user.token,
      });
      expect(res.status).toBe(200);
      return res.body.data.length >= count ? [...res.body.data].reverse() : null;
    },
    { what: `${count} recorded attempts` },
  );
}

async function deliveryRows(endpointId: string) {
  return t.services.sql<{ id: string; status: string; attempt: number; series: number; event_id: string }[]>`
    select id, status, attempt, series, event_id from webhook_deliveries where endpoint_id = ${endpointId}
     order by created_at, series`;
}

function verify(secret: string, r: Received, override: Partial<Record<string, string>> = {}, body = r.body) {
  return new Webhook(secret).verify(body, { ...r.headers, ...override } as Record<string, string>) as any;
}

async function metricValue(outcome: string): Promise<number> {
  const text = await t.services.metrics.registry.metrics();
  const m = text.match(new RegExp(`^webhook_deliveries_total\\{outcome="${outcome}"\\} (\\d+)`, "m"));
  return m ? Number(m[1]) : 0;
}

describe("webhook delivery", () => {
  it("delivers a payment's event, signed so the standardwebhooks library verifies it", async () => {
    const alice = await makeUser(t.services, { balance: 10_000n });
    const bob = await makeUser(t.services, { role: "merchant" });
    const bobPath = uniquePath("bob");
    const alicePath = uniquePath("alice");
    const bobEndpoint = await createEndpoint(bob, bobPath);
    const aliceEndpoint = await createEndpoint(alice, alicePath, ["payment.succeeded"]);
    expect(bobEndpoint.secret).toMatch(/^whsec_[A-Za-z0-9+/=]+$/);
    const delivered = await metricValue("delivered");

    const payment = await paid(alice, bob, "12.34");
    expect(payment.status).toBe("succeeded");
    const [got] = await rx.waitFor(bobPath);
    const [aliceGot] = await rx.waitFor(alicePath); // both parties' endpoints get it

    const payload = verify(bobEndpoint.secret, got!);
    expect(payload).toMatchObject({
      id: payment.eventId,
      object: "event",
      type: "payment.succeeded",
      data: { object: { id: payment.paymentId, object: "payment", status: "succeeded", amount: "12.34" } },
    });
    expect(payload.created_at).toMatch(/Z$/);
    expect(got!.headers["webhook-id"]).toBe(payment.eventId);
    expect(got!.headers["content-type"]).toBe("application/json");
    expect(Math.abs(Number(got!.headers["webhook-timestamp"]) - Date.now() / 1000)).toBeLessThan(30);
    expect(verify(aliceEndpoint.secret, aliceGot!).id).toBe(payment.eventId);
    // Another endpoint's secret does not verify it.
    expect(() => verify(aliceEndpoint.secret, got!)).toThrow();

    // A tampered body fails, and so does a stale timestamp.
    const tampered = got!.body.replace('"12.34"', '"99.99"');
    expect(tampered).not.toBe(got!.body);
    expect(() => verify(bobEndpoint.secret, got!, {}, tampered)).toThrow();
    const stale = String(Math.floor(Date.now() / 1000) - 3600);
    expect(() => verify(bobEndpoint.secret, got!, { "webhook-timestamp": stale })).toThrow(/timestamp/i);

    // Recorded: one attempt, 200, and the delivery is done.
    const attempts = await attemptsOf(bob, bobEndpoint.id, 1);
    expect(attempts).toHaveLength(1);
    expect(attempts[0]).toMatchObject({
      event_id: payment.eventId,
      attempt: 1,
      status_code: 200,
      error: null,
    });
    expect(attempts[0].duration_ms).toBeGreaterThanOrEqual(0);
    expect(attempts[0].created_at).toMatch(/Z$/);
    await waitFor(async () => (await deliveryRows(bobEndpoint.id))[0]?.status === "delivered");
    await waitFor(async () => (await metricValue("delivered")) >= delivered + 2);
  });

  it("retries a receiver that fails twice, then delivers (3 attempts recorded, same webhook-id)", async () => {
    const alice = await makeUser(t.services, { balance: 10_000n });
    const bob = await makeUser(t.services);
    const path = uniquePath("flaky");
    rx.on(path, (n) => ({ status: n < 2 ? 500 : 200 }));
    const endpoint = await createEndpoint(bob, path);
    const payment = await paid(alice, bob);
    const got = await rx.waitFor(path, 3);
    expect(got.map((r) => r.headers["webhook-id"])).toEqual([
      payment.eventId,
      payment.eventId,
      payment.eventId,
    ]);
    for (const r of got) expect(verify(endpoint.secret, r).id).toBe(payment.eventId);
    const attempts = await attemptsOf(bob, endpoint.id, 3);
    expect(attempts.map((a: any) => [a.attempt, a.status_code])).toEqual([
      [1, 500],
      [2, 500],
      [3, 200],
    ]);
    // The schedule is 1 s between attempts, with +-10% jitter.
    for (let i = 1; i < got.length; i++) expect(got[i]!.at - got[i - 1]!.at).toBeGreaterThanOrEqual(850);
    await waitFor(async () => {
      const [d] = await deliveryRows(endpoint.id);
      return d?.status === "delivered" && d.attempt === 3;
    });
  });

  it("gives up after the schedule is exhausted and marks the delivery failed", async () => {
    const alice = await makeUser(t.services, { balance: 10_000n });
    const bob = await makeUser(t.services);
    const path = uniquePath("down");
    rx.on(path, () => ({ status: 503 }));
    const endpoint = await createEndpoint(bob, path);
    const failed = await metricValue("failed");
    await paid(alice, bob);
    // 1 + 3 retries ("1,1,1"), then nothing more.
    await waitFor(async () => (await deliveryRows(endpoint.id))[0]?.status === "failed", {
      timeoutMs: 20_000,
    });
    const attempts = await attemptsOf(bob, endpoint.id, 4);
    expect(attempts.map((a: any) => a.status_code)).toEqual([503, 503, 503, 503]);
    await new Promise((r) => setTimeout(r, 1500));
    expect(rx.received(path)).toHaveLength(4);
    expect(await metricValue("failed")).toBe(failed + 1);
    // The endpoint itself stays enabled: only a 410 disables it.
    const ep = await t.request("GET", `/api/v1/webhook-endpoints/${endpoint.id}`, { token: bob.token });
    expect(ep.body.enabled).toBe(true);
  });

  it("disables the endpoint on 410 and stops delivering to it", async () => {
    const alice = await makeUser(t.services, { balance: 10_000n });
    const bob = await makeUser(t.services);
    const path = uniquePath("gone");
    rx.on(path, () => ({ status: 410 }));
    const endpoint = await createEndpoint(bob, path);
    const disabled = await metricValue("disabled");
    await paid(alice, bob);
    await rx.waitFor(path, 1);
    const ep = await waitFor(async () => {
      const r = await t.request("GET", `/api/v1/webhook-endpoints/${endpoint.id}`, { token: bob.token });
      return r.body.enabled === false ? r : null;
    });
    expect(ep.body.disabled_reason).toMatch(/410/);
    const attempts = await attemptsOf(bob, endpoint.id, 1);
    expect(attempts.map((a: any) => a.status_code)).toEqual([410]);
    expect((await deliveryRows(endpoint.id))[0]?.status).toBe("failed");
    expect(await metricValue("disabled")).toBe(disabled + 1);

    // Nothing more goes to a disabled endpoint, not even new events.
    await paid(alice, bob);
    await workers.reconcileNow();
    await new Promise((r) => setTimeout(r, 1500));
    expect(rx.received(path)).toHaveLength(1);
    expect(await deliveryRows(endpoint.id)).toHaveLength(1);

    // Re-enabled by its owner, it receives new events again.
    rx.on(path, () => ({ status: 204 }));
    const patched = await t.request("PATCH", `/api/v1/webhook-endpoints/${endpoint.id}`, {
      token: bob.token,
      body: { enabled: true },
    });
    expect(patched.body).toMatchObject({ enabled: true, disabled_reason: null });
    const again = await paid(alice, bob);
    const got = await rx.waitFor(path, 2);
    expect(got[1]!.headers["webhook-id"]).toBe(again.eventId);
  });

  it("honours Retry-After when it is longer than the schedule", async () => {
    const alice = await makeUser(t.services, { balance: 10_000n });
    const bob = await makeUser(t.services);
    const path = uniquePath("throttled");
    rx.on(path, (n) => (n === 0 ? { status: 429, headers: { "retry-after": "2" } } : { status: 200 }));
    const endpoint = await createEndpoint(bob, path);
    await paid(alice, bob);
    await rx.waitFor(path, 2);
    const attempts = await attemptsOf(bob, endpoint.id, 2);
    expect(attempts.map((a: any) => a.status_code)).toEqual([429, 200]);
    // Recorded times: the second attempt came no sooner than 2 s after the first was recorded
    // (the schedule alone would have retried after about 1 s).
    const gap = Date.parse(attempts[1].created_at) - Date.parse(attempts[0].created_at);
    expect(gap).toBeGreaterThanOrEqual(1990);
    expect(gap).toBeLessThan(10_000);
  });

  it("respects event type filters", async () => {
    const alice = await makeUser(t.services, { balance: 500n });
    const bob = await makeUser(t.services);
    const failedPath = uniquePath("only-failed");
    const allPath = uniquePath("all");
    const failedOnly = await createEndpoint(bob, failedPath, ["payment.failed"]);
    await createEndpoint(bob, allPath, ["*"]);

    const ok = await paid(alice, bob, "1.00");
    expect(ok.eventType).toBe("payment.succeeded");
    await rx.waitFor(allPath, 1); // dispatched...
    await workers.reconcileNow();
    expect(rx.received(failedPath)).toHaveLength(0); // ...but not to the payment.failed endpoint
    expect(await deliveryRows(failedOnly.id)).toHaveLength(0);

    const declined = await paid(alice, bob, "100.00");
    expect(declined.eventType).toBe("payment.failed");
    const [got] = await rx.waitFor(failedPath, 1);
    expect(verify(failedOnly.secret, got!)).toMatchObject({ id: declined.eventId, type: "payment.failed" });
    const all = await rx.waitFor(allPath, 2);
    expect(all.map((r) => r.headers["webhook-id"])).toEqual([ok.eventId, declined.eventId]);
  });

  it("signs with both secrets for 24 h after a rotation, each verifying with its own secret", async () => {
    const alice = await makeUser(t.services, { balance: 10_000n });
    const bob = await makeUser(t.services);
    const path = uniquePath("rotated");
    const endpoint = await createEndpoint(bob, path);
    const rotated = await t.request("POST", `/api/v1/webhook-endpoints/${endpoint.id}/rotate-secret`, {
      token: bob.token,
    });
    expect(rotated.status).toBe(200);
    const newSecret: string = rotated.body.secret;
    expect(newSecret).toMatch(/^whsec_/);
    expect(newSecret).not.toBe(endpoint.secret);
    const expires = Date.parse(rotated.body.previous_secret_expires_at);
    expect(Math.abs(expires - (Date.now() + 24 * 3600_000))).toBeLessThan(60_000);

    const payment = await paid(alice, bob);
    const [got] = await rx.waitFor(path, 1);
    const signatures = got!.headers["webhook-signature"]!.split(" ");
    expect(signatures).toHaveLength(2);
    expect(signatures.every((s) => s.startsWith("v1,"))).toBe(true);
    // The first signature is the new secret's, the second the old one's; neither verifies with the other.
    expect(verify(newSecret, got!, { "webhook-signature": signatures[0]! }).id).toBe(payment.eventId);
    expect(verify(endpoint.secret, got!, { "webhook-signature": signatures[1]! }).id).toBe(payment.eventId);
    expect(() => verify(newSecret, got!, { "webhook-signature": signatures[1]! })).toThrow();
    expect(() => verify(endpoint.secret, got!, { "webhook-signature": signatures[0]! })).toThrow();
    // Receivers holding either secret accept the full header.
    expect(verify(newSecret, got!).id).toBe(payment.eventId);
    expect(verify(endpoint.secret, got!).id).toBe(payment.eventId);

    // Once the previous secret has expired, only the current one signs.
    await t.services.sql`
      update webhook_endpoints set previous_secret_expires_at = now() - interval '1 second' where id = ${endpoint.id}`;
    await paid(alice, bob);
    const [, second] = await rx.waitFor(path, 2);
    expect(second!.headers["webhook-signature"]!.split(" ")).toHaveLength(1);
    expect(() => verify(endpoint.secret, second!)).toThrow();
    expect(verify(newSecret, second!).type).toBe("payment.succeeded");
  });

  it("redelivers an event on request, as a new series with the same webhook-id", async () => {
    const alice = await makeUser(t.services, { balance: 10_000n });
    const bob = await makeUser(t.services);
    const stranger = await makeUser(t.services);
    const ops = await makeUser(t.services, { role: "ops" });
    const bobPath = uniquePath("redeliver-bob");
    const alicePath = uniquePath("redeliver-alice");
    const bobEndpoint = await createEndpoint(bob, bobPath);
    const aliceEndpoint = await createEndpoint(alice, alicePath);
    const strangerEndpoint = await createEndpoint(stranger, uniquePath("stranger"));
    const payment = await paid(alice, bob);
    await rx.waitFor(bobPath, 1);
    await rx.waitFor(alicePath, 1);

    const res = await t.request("POST", `/api/v1/events/${payment.eventId}/redeliver`, { token: bob.token });
    expect(res.status).toBe(202);
    expect(res.body.data).toHaveLength(1); // bob's own endpoint only
    expect(res.body.data[0]).toMatchObject({
      object: "webhook_delivery",
      event_id: payment.eventId,
      endpoint_id: bobEndpoint.id,
      status: "pending",
      attempt: 1,
    });
    expect(res.body.data[0].id).toMatch(/^whd_/);
    const got = await rx.waitFor(bobPath, 2);
    expect(got[1]!.headers["webhook-id"]).toBe(payment.eventId);
    expect(verify(bobEndpoint.secret, got[1]!).id).toBe(payment.eventId);
    const rows = await deliveryRows(bobEndpoint.id);
    expect(rows.map((r) => r.series)).toEqual([0, 1]);
    await waitFor(async () => (await deliveryRows(bobEndpoint.id)).every((r) => r.status === "delivered"));

    // ops: every matching endpoint of the event's parties, never a stranger's.
    const byOps = await t.request("POST", `/api/v1/events/${payment.eventId}/redeliver`, {
      token: ops.token,
    });
    expect(byOps.status).toBe(202);
    expect(byOps.body.data.map((d: any) => d.endpoint_id).sort()).toEqual(
      [aliceEndpoint.id, bobEndpoint.id].sort(),
    );
    await rx.waitFor(bobPath, 3);
    await rx.waitFor(alicePath, 2);
    expect(await deliveryRows(strangerEndpoint.id)).toHaveLength(0);

    // Not visible: 404. No token: 401. A malformed id: 422.
    const hidden = await t.request("POST", `/api/v1/events/${payment.eventId}/redeliver`, {
      token: stranger.token,
    });
    expect(hidden.status).toBe(404);
    expect(hidden.body.code).toBe("event_not_found");
    expect((await t.request("POST", `/api/v1/events/${payment.eventId}/redeliver`)).status).toBe(401);
    const bad = await t.request("POST", `/api/v1/events/${"x".repeat(65)}/redeliver`, { token: bob.token });
    expect(bad.status).toBe(422);
    expect(bad.body.errors[0].pointer).toBe("/param/id");
  });

  it("cancels pending retries when the endpoint is deleted or disabled", async () => {
    const alice = await makeUser(t.services, { balance: 10_000n });
    const bob = await makeUser(t.services);
    const deletedPath = uniquePath("deleted");
    const disabledPath = uniquePath("disabled");
    rx.on(deletedPath, () => ({ status: 500 }));
    rx.on(disabledPath, () => ({ status: 500 }));
    const deleted = await createEndpoint(bob, deletedPath);
    const disabled = await createEndpoint(bob, disabledPath);
    await paid(alice, bob);
    await rx.waitFor(deletedPath, 1);
    await rx.waitFor(disabledPath, 1);
    expect(
      (await t.request("DELETE", `/api/v1/webhook-endpoints/${deleted.id}`, { token: bob.token })).status,
    ).toBe(200);
    const off = await t.request("PATCH", `/api/v1/webhook-endpoints/${disabled.id}`, {
      token: bob.token,
      body: { enabled: false },
    });
    expect(off.body).toMatchObject({ enabled: false, disabled_reason: "Disabled by its owner." });
    expect((await deliveryRows(deleted.id))[0]?.status).toBe("canceled"); // at once, in the delete
    await waitFor(async () => (await deliveryRows(disabled.id))[0]?.status === "canceled"); // when the retry comes due
    await new Promise((r) => setTimeout(r, 1500));
    expect(rx.received(deletedPath)).toHaveLength(1);
    expect(rx.received(disabledPath)).toHaveLength(1);
  });

  it("dispatches events from Postgres alone, and the reconciler re-enqueues deliveries whose job was lost", async () => {
    const bob = await makeUser(t.services);
    const path = uniquePath("lost");
    const endpoint = await createEndpoint(bob, path);
    // An event written while Redis was away: only the row exists, no job anywhere.
    const eventId = newId("evt");
    await t.services.sql`
      insert into events (id, type, user_ids, data)
      values (${eventId}, 'payment.succeeded', ${[bob.id]}::text[], ${t.services.sql.json({ object: { id: "pay_x" } })})`;
    const [first] = await rx.waitFor(path, 1);
    expect(first!.headers["webhook-id"]).toBe(eventId);

    // A pending delivery whose job Redis lost (wiped, or the enqueue after COMMIT failed).
    const [lost] = await t.services.sql<{ id: string }[]>`
      insert into webhook_deliveries (id, event_id, endpoint_id, series, next_attempt_at)
      values (${newId("whd")}, ${eventId}, ${endpoint.id}, 7, now() - interval '1 minute')
      returning id`;
    expect(await t.services.queues.webhooks.getJob(`${lost!.id}-1`)).toBeUndefined();
    const got = await rx.waitFor(path, 2);
    expect(got[1]!.headers["webhook-id"]).toBe(eventId);
    await waitFor(async () => (await deliveryRows(endpoint.id)).every((r) => r.status === "delivered"));
  });

  it("makes each attempt at most once: a job for an attempt already recorded does nothing", async () => {
    const alice = await makeUser(t.services, { balance: 10_000n });
    const bob = await makeUser(t.services);
    const path = uniquePath("once");
    const endpoint = await createEndpoint(bob, path);
    await paid(alice, bob);
    await rx.waitFor(path, 1);
    const [d] = await waitFor(async () => {
      const rows = await deliveryRows(endpoint.id);
      return rows[0]?.status === "delivered" ? rows : null;
    });
    // The job of that attempt is known by the id the reconciler looks it up by.
    const done = await t.services.queues.webhooks.getJob(deliveryJobId(d!.id, 1));
    expect(await done?.getState()).toBe("completed");
    expect(done?.returnvalue).toEqual({ outcome: "delivered" });
    expect(await deliverAttempt(t.services, { deliveryId: d!.id, attempt: 1 })).toBe("skipped");
    expect(await deliverAttempt(t.services, { deliveryId: d!.id, attempt: 2 })).toBe("skipped");
    // Even through the queue, with a fresh job id.
    const job = await t.services.queues.webhooks.add("deliver", { deliveryId: d!.id, attempt: 1 });
    await waitFor(async () => (await job.getState()) === "completed");
    expect(rx.received(path)).toHaveLength(1);
    expect(await attemptsOf(bob, endpoint.id, 1)).toHaveLength(1);
  });

  it("fails a malformed job at once, without retrying it", async () => {
    const job = await t.services.queues.webhooks.add("deliver", { deliveryId: 42 } as any, {
      attempts: 5,
      backoff: { type: "fixed", delay: 10 },
    });
    await waitFor(async () => (await job.getState()) === "failed");
    const failed = await t.services.queues.webhooks.getJob(job.id!);
    expect(failed?.attemptsMade).toBe(1);
    expect(failed?.failedReason).toMatch(/malformed/);
  });
});
