/**
 * The events API: events about the caller's payments, written by the posting engine in the same
 * transaction as the money movement; visible to the parties, ops and admin, to nobody else.
 */
import { describe, expect, it } from "vitest";
import { makeUser, type TestUser, useApp } from "./support/app.ts";
import { expectFieldError, expectProblem } from "./support/auth.ts";
import { pay, settled, useWorkers } from "./support/payments.ts";

const t = await useApp();
await useWorkers(t.services);

async function paid(payer: TestUser, payee: TestUser, amount: string) {
  const res = await pay(t, payer, {
    from_account: payer.account.account_number,
    to_account: payee.account.account_number,
    amount,
    currency: "USD",
  });
  expect(res.status).toBe(202);
  await settled(t.services, [res.body.id]);
  const [evt] = await t.services.sql<
    { id: string }[]
  >`select id from events where payment_id = ${res.body.id}`;
  return { paymentId: res.body.id as string, eventId: evt!.id };
}

describe("GET /api/v1/events/{id}", () => {
  it("shows the event to payer, payee, ops and admin; a stranger gets 404", async () => {
    const alice = await makeUser(t.services, { balance: 10_000n });
    const bob = await makeUser(t.services, { role: "merchant" });
    const { paymentId, eventId } = await paid(alice, bob, "7.25");
    for (const role of ["ops", "admin"] as const) {
      const reader = await makeUser(t.services, { role });
      expect((await t.request("GET", `/api/v1/events/${eventId}`, { token: reader.token })).status).toBe(200);
    }
    for (const party of [alice, bob]) {
      const res = await t.request("GET", `/api/v1/events/${eventId}`, { token: party.token });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        id: eventId,
        object: "event",
        type: "payment.succeeded",
        created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/),
        data: { object: expect.objectContaining({ id: paymentId, object: "payment", amount: "7.25" }) },
      });
      expect(res.body.data.object.status).toBe("succeeded");
    }
    const stranger = await makeUser(t.services);
    const hidden = await t.request("GET", `/api/v1/events/${eventId}`, { token: stranger.token });
    expectProblem(hidden, 404, "event_not_found");
    // Same answer as for an event that does not exist.
    const missing = await t.request("GET", "/api/v1/events/evt_00000000000000000000000000", {
      token: stranger.token,
    });
    expect({ ...missing.body, request_id: "" }).toEqual({ ...hidden.body, request_id: "" });
  });

  it("needs a token and a sane id", async () => {
    const user = await makeUser(t.services);
    expectProblem(await t.request("GET", "/api/v1/events/evt_00000000000000000000000000"), 401);
    expectFieldError(
      await t.request("GET", `/api/v1/events/${"e".repeat(65)}`, { token: user.token }),
      "/param/id",
    );
  });
});

describe("GET /api/v1/events", () => {
  it("lists the caller's events newest first, paginated and filtered by type", async () => {
    const alice = await makeUser(t.services, { balance: 1_000n });
    const bob = await makeUser(t.services);
    const first = await paid(alice, bob, "2.00");
    const second = await paid(alice, bob, "3.00");
    const declined = await paid(alice, bob, "50.00"); // insufficient funds: payment.failed

    const page1 = await t.request("GET", "/api/v1/events?limit=2", { token: bob.token });
    expect(page1.status).toBe(200);
    expect(page1.body.data.map((e: any) => e.id)).toEqual([declined.eventId, second.eventId]);
    expect(page1.body.data.map((e: any) => e.type)).toEqual(["payment.failed", "payment.succeeded"]);
    expect(page1.body.has_more).toBe(true);
    const page2 = await t.request("GET", `/api/v1/events?limit=2&cursor=${page1.body.next_cursor}`, {
      token: bob.token,
    });
    expect(page2.body).toMatchObject({ data: [{ id: first.eventId }], has_more: false, next_cursor: null });

    const failed = await t.request("GET", "/api/v1/events?type=payment.failed", { token: alice.token });
    expect(failed.body.data.map((e: any) => e.id)).toEqual([declined.eventId]);
    const succeeded = await t.request("GET", "/api/v1/events?type=payment.succeeded", { token: alice.token });
    expect(succeeded.body.data.map((e: any) => e.id)).toEqual([second.eventId, first.eventId]);
    const none = await t.request("GET", "/api/v1/events?type=refund.succeeded", { token: alice.token });
    expect(none.body.data).toEqual([]);

    // A stranger sees nothing; ops sees them among everyone's.
    const stranger = await makeUser(t.services);
    const empty = await t.request("GET", "/api/v1/events", { token: stranger.token });
    expect(empty.body).toEqual({ data: [], has_more: false, next_cursor: null });
    const ops = await makeUser(t.services, { role: "ops" });
    const all = await t.request("GET", "/api/v1/events?type=payment.failed&limit=100", { token: ops.token });
    expect(all.body.data.map((e: any) => e.id)).toContain(declined.eventId);
  });

  it("validates the query", async () => {
    const user = await makeUser(t.services);
    const badType = await t.request("GET", "/api/v1/events?type=payment.exploded", { token: user.token });
    expectFieldError(badType, "/query/type");
    expectFieldError(
      await t.request("GET", "/api/v1/events?limit=500", { token: user.token }),
      "/query/limit",
    );
    expectFieldError(
      await t.request("GET", "/api/v1/events?cursor=Zm9v", { token: user.token }),
      "/query/cursor",
    );
  });

  it("needs a token", async () => {
    expectProblem(await t.request("GET", "/api/v1/events"), 401);
  });
});
