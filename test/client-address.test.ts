import { describe, expect, it } from "vitest";
import { useApp } from "./support/app.ts";
import { uniqueAddress } from "./support/auth.ts";

/** Failed logins for unknown emails from one TCP peer (the load balancer), as X-Forwarded-For says. */
describe("client addresses behind trusted proxies", async () => {
  const t = await useApp({ TRUST_PROXY_HOPS: "1", LOGIN_MAX_ATTEMPTS: "2" });
  const balancer = uniqueAddress();

  async function failLogin(forwardedFor: string): Promise<number> {
    const res = await t.app.request(
      "/api/v1/auth/login",
      {
        method: "POST",
        headers: { "content-type": "application/json", "x-forwarded-for": forwardedFor },
        body: JSON.stringify({ email: `nobody-${Math.random()}@example.test`, password: "wrong-password" }),
      },
      { incoming: { socket: { remoteAddress: balancer } } },
    );
    return res.status;
  }

  it("throttles each client by the address its proxy saw, not the proxy's own", async () => {
    const [a, b] = [uniqueAddress(), uniqueAddress()];
    expect([await failLogin(a), await failLogin(a), await failLogin(a)]).toEqual([401, 401, 429]);
    // Another client behind the same balancer is not locked out by the first one.
    expect(await failLogin(b)).toBe(401);
  });

  it("ignores what the client wrote further left in the header", async () => {
    const real = uniqueAddress();
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push(await failLogin(`203.0.113.${i}, ${real}`));
    expect(statuses).toEqual([401, 401, 429]);
  });

  it("puts a whole IPv6 /64 in one bucket", async () => {
    const prefix = `2001:db8:${Math.floor(Math.random() * 0xffff).toString(16)}:7`;
    expect(await failLogin(`${prefix}::1`)).toBe(401);
    expect(await failLogin(`${prefix}:0:0:0:ffff`)).toBe(401);
    expect(await failLogin(`${prefix}::abcd`)).toBe(429);
  });
});
