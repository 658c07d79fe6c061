/**
 * Which events wait for the webhook dispatcher: only those with an endpoint that could receive
 * them (enabled, not deleted, subscribed to the type, of one of the event's users). The others are
 * written already dispatched, in the posting transaction, so the dispatcher never claims or updates
 * them. Posting and dispatching run here when a test says so (no posting workers, no dispatcher
 * timer), so a test can look at an event between the two; delivery workers send what is dispatched.
 * A database and queue namespace of this file's own, so no other file's workers take the work.
 */
import { afterAll, describe, expect, it } from "vitest";
import { drainPartition } from "../shared/payments/posting.ts";
import { createRedis } from "../shared/redis.ts";
import { dispatchEvents } from "../shared/webhooks/dispatch.ts";
import { startWebhookWorkers } from "../worker/webhooks.ts";
import { makeUser, type TestUser, useApp } from "./support/app.ts";
import { isolatedEnv } from "./support/isolated.ts";
import { pay } from "./support/payments.ts";
import { uniquePath, useReceiver } from "./support/receiver.ts";

const env = {
  ...(await isolatedEnv("webhooks-dispatch")),
  WEBHOOK_ALLOW_PRIVATE_TARGETS: "true",
};
const t = await useApp(env);
const rx = await useReceiver();
const connection = createRedis(t.services.config.REDIS_URL, "worker", {
  cluster: t.services.config.REDIS_CLUSTER,
});
connection.on("error", () => {});
const deliverers = startWebhookWorkers(t.services, connection);
afterAll(async () => {
  await Promise.all(deliverers.map((w) => w.close()));
  connection.disconnect();
});

interface EventRow {
  id: string;
  type: string;
  created_at: Date;
  dispatched_at: Date | null;
}

async function eventRow(id: string): Promise<EventRow> {
  const [row] = await t.services.sql<EventRow[]>`
    select id, type, created_at, dispatched_at from events where id = ${id}`;
  return row!;
}

/** A payment from `payer` to `payee`, posted now (every partition drained); with its event row. */
async function paid(payer: TestUser, payee: TestUser, amount = "1.00"): Promise<EventRow> {
  const res = await pay(t, payer, {
    from_account: payer.account.account_number,
    to_account: payee.account.account_number,
    amount,
    currency: "USD",
  });
  expect(res.status).toBe(202);
  for (let p = 0; p < t.services.config.POSTING_PARTITIONS; p++) await drainPartition(t.services, p);
  const [evt] = await t.services.sql<{ id: string }[]>`
    select id from events where payment_id = ${res.body.id}`;
  expect(evt, "the payment is posted and has its event").toBeDefined();
  return eventRow(evt!.id);
}

async function createEndpoint(user: TestUser, path: string, events: string[] = ["*"]) {
  const res = await t.request("POST", "/api/v1/webhook-endpoints", {
    token: user.token,
    body: { url: rx.url(path), events },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string };
}

async function deliveriesOf(eventId: string) {
  return t.services.sql<{ endpoint_id: string; series: number }[]>`
    select endpoint_id, series from webhook_deliveries where event_id = ${eventId} order by created_at`;
}

async function listedFor(user: TestUser): Promise<string[]> {
  const res = await t.request("GET", "/api/v1/events?limit=100", { token: user.token });
  expect(res.status).toBe(200);
  return res.body.data.map((e: { id: string }) => e.id);
}

describe("events written dispatched", () => {
  it("writes a payment's event dispatched when no party has an endpoint; the dispatcher leaves it alone", async () => {
    const alice = await makeUser(t.services, { balance: 10_000n });
    const bob = await makeUser(t.services);
    const evt = await paid(alice, bob);
    expect(evt.type).toBe("payment.succeeded");
    // Set in the posting transaction, before any dispatcher ran.
    expect(evt.dispatched_at).toBeInstanceOf(Date);
    expect(evt.dispatched_at!.getTime()).toBeGreaterThanOrEqual(evt.created_at.getTime());

    await dispatchEvents(t.services);
    expect((await eventRow(evt.id)).dispatched_at).toEqual(evt.dispatched_at); // not claimed, not updated
    expect(await deliveriesOf(evt.id)).toEqual([]);

    // Still an event like any other for its parties.
    expect(await listedFor(alice)).toContain(evt.id);
    expect(await listedFor(bob)).toContain(evt.id);
    const one = await t.request("GET", `/api/v1/events/${evt.id}`, { token: bob.token });
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ id: evt.id, type: "payment.succeeded" });
  });

  it("counts a disabled, a deleted and a not-subscribed endpoint as none", async () => {
    const alice = await makeUser(t.services, { balance: 10_000n });
    const bob = await makeUser(t.services);
    const disabled = await createEndpoint(bob, uniquePath("disabled"));
    const off = await t.request("PATCH", `/api/v1/webhook-endpoints/${disabled.id}`, {
      token: bob.token,
      body: { enabled: false },
    });
    expect(off.status).toBe(200);
    const deleted = await createEndpoint(bob, uniquePath("deleted"));
    expect(
      (await t.request("DELETE", `/api/v1/webhook-endpoints/${deleted.id}`, { token: bob.token })).status,
    ).toBe(200);
    await createEndpoint(bob, uniquePath("refunds-only"), ["refund.succeeded", "payment.failed"]);

    const evt = await paid(alice, bob);
    expect(evt.type).toBe("payment.succeeded");
    expect(evt.dispatched_at).toBeInstanceOf(Date);
    await dispatchEvents(t.services);
    expect((await eventRow(evt.id)).dispatched_at).toEqual(evt.dispatched_at);
    expect(await deliveriesOf(evt.id)).toEqual([]);
  });

  it("leaves an event for the dispatcher when either party has an endpoint for it, and delivers it", async () => {
    const alice = await makeUser(t.services, { balance: 10_000n });
    const bob = await makeUser(t.services);
    const carol = await makeUser(t.services, { balance: 10_000n });
    const dave = await makeUser(t.services);
    const bobPath = uniquePath("payee");
    const carolPath = uniquePath("payer");
    const bobEndpoint = await createEndpoint(bob, bobPath, ["payment.succeeded"]);
    const carolEndpoint = await createEndpoint(carol, carolPath, ["*"]);

    const toBob = await paid(alice, bob); // the payee's endpoint, subscribed to the type
    const fromCarol = await paid(carol, dave); // the payer's endpoint, subscribed to everything
    expect(toBob.dispatched_at).toBeNull();
    expect(fromCarol.dispatched_at).toBeNull();

    await dispatchEvents(t.services);
    expect((await eventRow(toBob.id)).dispatched_at).toBeInstanceOf(Date);
    expect((await eventRow(fromCarol.id)).dispatched_at).toBeInstanceOf(Date);
    expect(await deliveriesOf(toBob.id)).toEqual([{ endpoint_id: bobEndpoint.id, series: 0 }]);
    expect(await deliveriesOf(fromCarol.id)).toEqual([{ endpoint_id: carolEndpoint.id, series: 0 }]);
    const [toBobGot] = await rx.waitFor(bobPath, 1);
    const [fromCarolGot] = await rx.waitFor(carolPath, 1);
    expect(toBobGot!.headers["webhook-id"]).toBe(toBob.id);
    expect(fromCarolGot!.headers["webhook-id"]).toBe(fromCarol.id);
  });

  it("redelivers an event that was written dispatched, once its user has an endpoint", async () => {
    const alice = await makeUser(t.services, { balance: 10_000n });
    const bob = await makeUser(t.services);
    const evt = await paid(alice, bob);
    expect(evt.dispatched_at).toBeInstanceOf(Date);

    // An endpoint made afterwards gets new events, not this one, unless asked.
    const path = uniquePath("later");
    const endpoint = await createEndpoint(bob, path);
    await dispatchEvents(t.services);
    expect(await deliveriesOf(evt.id)).toEqual([]);

    const res = await t.request("POST", `/api/v1/events/${evt.id}/redeliver`, { token: bob.token });
    expect(res.status).toBe(202);
    expect(res.body.data).toMatchObject([{ event_id: evt.id, endpoint_id: endpoint.id, status: "pending" }]);
    const [got] = await rx.waitFor(path, 1);
    expect(got!.headers["webhook-id"]).toBe(evt.id);
    expect(JSON.parse(got!.body)).toMatchObject({ id: evt.id, type: "payment.succeeded" });
  });
});
