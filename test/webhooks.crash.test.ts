/**
 * A worker process SIGKILLed in the middle of a webhook delivery: the receiver has the request but
 * never answered, nothing is recorded. The delivery must still complete (at least once, with the
 * same webhook-id) once another worker runs: its job stalls and BullMQ runs it again.
 */
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { makeUser, useApp } from "./support/app.ts";
import { exited, isolatedEnv, spawnWorker } from "./support/isolated.ts";
import { pay, settled } from "./support/payments.ts";
import { uniquePath, useReceiver } from "./support/receiver.ts";
import { waitFor } from "./support/wait.ts";

describe("a worker killed mid-delivery", async () => {
  const env = {
    ...(await isolatedEnv("webhooks-crash")),
    WEBHOOK_ALLOW_PRIVATE_TARGETS: "true",
    WEBHOOK_RETRY_SCHEDULE: "1,1,1",
    RECONCILE_INTERVAL_MS: "1000",
    RECONCILE_GRACE_MS: "2000",
  };
  const t = await useApp(env);
  const rx = await useReceiver();

  it("still delivers the event after a new worker starts (same webhook-id)", {
    timeout: 120_000,
  }, async () => {
    const alice = await makeUser(t.services, { balance: 10_000n });
    const bob = await makeUser(t.services, { role: "merchant" });
    const path = uniquePath("crash");
    // The first request hangs (the worker is killed while waiting); later ones succeed.
    rx.on(path, (n) => (n === 0 ? "hang" : { status: 200 }));
    const created = await t.request("POST", "/api/v1/webhook-endpoints", {
      token: bob.token,
      body: { url: rx.url(path), events: ["payment.succeeded"] },
    });
    expect(created.status).toBe(201);
    const res = await pay(t, alice, {
      from_account: alice.account.account_number,
      to_account: bob.account.account_number,
      amount: "3.00",
      currency: "USD",
    });
    expect(res.status).toBe(202);

    const first = spawnWorker(env);
    await settled(t.services, [res.body.id], 60_000);
    const [evt] = await t.services.sql<
      { id: string }[]
    >`select id from events where payment_id = ${res.body.id}`;
    const [hung] = await rx.waitFor(path, 1, 30_000);
    expect(hung!.headers["webhook-id"]).toBe(evt!.id);
    first.kill("SIGKILL");
    await exited(first);

    // Nothing was recorded for the attempt in flight: it is still due.
    const [before] = await t.services.sql<{ status: string; attempt: number }[]>`
      select status, attempt from webhook_deliveries where event_id = ${evt!.id}`;
    expect(before).toMatchObject({ status: "pending", attempt: 1 });
    const [recorded] = await t.services.sql<{ n: number }[]>`
      select count(*)::int as n from webhook_attempts where event_id = ${evt!.id}`;
    expect(recorded!.n).toBe(0);

    const second = spawnWorker(env);
    const delivered = await waitFor(
      async () => {
        const [row] = await t.services.sql<{ status: string; attempt: number }[]>`
          select status, attempt from webhook_deliveries where event_id = ${evt!.id}`;
        return row?.status === "delivered" ? row : null;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: "the delivery to complete after the restart" },
    );
    expect(delivered.attempt).toBe(1);
    const got = rx.received(path);
    expect(got.length).toBeGreaterThanOrEqual(2);
    expect(new Set(got.map((r) => r.headers["webhook-id"]))).toEqual(new Set([evt!.id]));
    const payload = new Webhook(created.body.secret).verify(got[1]!.body, got[1]!.headers) as any;
    expect(payload).toMatchObject({ id: evt!.id, type: "payment.succeeded" });
    const attempts = await t.services.sql<{ attempt: number; status_code: number }[]>`
      select attempt, status_code from webhook_attempts where event_id = ${evt!.id}`;
    expect(attempts).toEqual([{ attempt: 1, status_code: 200 }]);

    second.kill("SIGTERM");
    expect(await exited(second)).toBe(0);
  });
});
