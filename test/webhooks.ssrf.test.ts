/**
 * SSRF protection of webhook endpoints, at both layers: when an endpoint is saved (a clear 422)
 * and at every delivery (an endpoint stored while private targets were allowed is still refused by
 * a worker whose configuration does not allow them). Own database and queues: the only workers
 * here are the strict ones.
 */
import { describe, expect, it } from "vitest";
import { makeUser, useApp } from "./support/app.ts";
import { expectFieldError } from "./support/auth.ts";
import { isolatedEnv } from "./support/isolated.ts";
import { pay, settled, useWorkers } from "./support/payments.ts";
import { uniquePath, useReceiver } from "./support/receiver.ts";
import { waitFor } from "./support/wait.ts";

const env = {
  ...(await isolatedEnv("webhooks-ssrf")),
  WEBHOOK_RETRY_SCHEDULE: "1,1,1",
  RECONCILE_INTERVAL_MS: "500",
  RECONCILE_GRACE_MS: "1000",
};
const strict = await useApp({ ...env, WEBHOOK_ALLOW_PRIVATE_TARGETS: "false" });
const loose = await useApp({ ...env, WEBHOOK_ALLOW_PRIVATE_TARGETS: "true" });
await useWorkers(strict.services);
const rx = await useReceiver();

const PRIVATE_TARGETS = [
  "http://127.0.0.1/hook",
  "http://127.0.0.1:8080/hook",
  "http://10.1.2.3/hook",
  "http://172.16.5.4/hook",
  "http://192.168.0.10/hook",
  "http://169.254.169.254/latest/meta-data/",
  "http://[::1]/hook",
  "http://[::ffff:127.0.0.1]/hook",
  "http://[fe80::1]/hook",
  "http://[fd00::1]/hook",
  "http://2130706433/", // 127.0.0.1 as one decimal number
  "http://0x7f.1/", // 127.0.0.1 in hex shorthand
  "http://0.0.0.0/",
  "http://localhost/", // a name resolving to loopback
  "http://localhost./hook",
];

describe("webhook endpoint URLs (SSRF)", () => {
  it.each(PRIVATE_TARGETS)("refuses %s at creation with 422 url_not_allowed", async (url) => {
    const user = await makeUser(strict.services);
    const res = await strict.request("POST", "/api/v1/webhook-endpoints", {
      token: user.token,
      body: { url, events: ["*"] },
    });
    expectFieldError(res, "/url");
    expect(res.body.code).toBe("url_not_allowed");
    const list = await strict.request("GET", "/api/v1/webhook-endpoints", { token: user.token });
    expect(list.body.data).toEqual([]);
  });

  it.each([
    "ftp://93.184.215.14/hook",
    "file:///etc/passwd",
    "not a url",
    "https://user:pw@93.184.215.14/hook",
  ])("refuses %s as url_invalid", async (url) => {
    const user = await makeUser(strict.services);
    const res = await strict.request("POST", "/api/v1/webhook-endpoints", {
      token: user.token,
      body: { url, events: ["*"] },
    });
    expectFieldError(res, "/url");
    expect(res.body.code).toBe("url_invalid");
  });

  it("accepts a public address, and refuses a private one in a PATCH", async () => {
    const user = await makeUser(strict.services);
    const res = await strict.request("POST", "/api/v1/webhook-endpoints", {
      token: user.token,
      body: { url: "https://93.184.215.14/hooks", events: ["*"] },
    });
    expect(res.status).toBe(201);
    const patched = await strict.request("PATCH", `/api/v1/webhook-endpoints/${res.body.id}`, {
      token: user.token,
      body: { url: "http://169.254.169.254/" },
    });
    expectFieldError(patched, "/url");
    expect(patched.body.code).toBe("url_not_allowed");
    const got = await strict.request("GET", `/api/v1/webhook-endpoints/${res.body.id}`, {
      token: user.token,
    });
    expect(got.body.url).toBe("https://93.184.215.14/hooks");
  });

  it("allows private targets when WEBHOOK_ALLOW_PRIVATE_TARGETS is set (local development)", async () => {
    const user = await makeUser(loose.services);
    const res = await loose.request("POST", "/api/v1/webhook-endpoints", {
      token: user.token,
      body: { url: "http://2130706433:9/hook", events: ["*"] },
    });
    expect(res.status).toBe(201);
    expect(res.body.url).toBe("http://127.0.0.1:9/hook"); // stored normalized
  });

  it("refuses a private target again at delivery time: the attempt is recorded, nothing is sent", async () => {
    const alice = await makeUser(strict.services, { balance: 10_000n });
    const bob = await makeUser(strict.services);
    const path = uniquePath("private");
    // Stored while private targets were allowed...
    const endpoint = await loose.request("POST", "/api/v1/webhook-endpoints", {
      token: bob.token,
      body: { url: rx.url(path), events: ["*"] },
    });
    expect(endpoint.status).toBe(201);
    // ...delivered by workers that do not allow them.
    const res = await pay(strict, alice, {
      from_account: alice.account.account_number,
      to_account: bob.account.account_number,
      amount: "1.00",
      currency: "USD",
    });
    await settled(strict.services, [res.body.id]);
    const attempts = await waitFor(async () => {
      const r = await strict.request("GET", `/api/v1/webhook-endpoints/${endpoint.body.id}/deliveries`, {
        token: bob.token,
      });
      return r.body.data.length >= 2 ? r.body.data : null;
    });
    for (const a of attempts) {
      expect(a.status_code).toBeNull();
      expect(a.error).toMatch(/not allowed.*127\.0\.0\.1/);
    }
    expect(rx.received(path)).toHaveLength(0);
  });
});
