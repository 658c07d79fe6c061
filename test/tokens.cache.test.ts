import { afterEach, describe, expect, it, vi } from "vitest";
import { signAccessToken, verifyAccessToken } from "../shared/auth/tokens.ts";
import { testConfig } from "./support/db.ts";

describe("verified-token cache", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("never accepts a cached token under another secret, issuer or audience", async () => {
    const config = testConfig({ JWT_SECRET: "a".repeat(40) });
    const token = await signAccessToken(config, { userId: "usr_cache1", role: "customer" });
    expect(await verifyAccessToken(config, token)).toEqual({ userId: "usr_cache1", role: "customer" });
    expect(await verifyAccessToken(config, token)).toEqual({ userId: "usr_cache1", role: "customer" }); // cached
    for (const other of [
      testConfig({ JWT_SECRET: "b".repeat(40) }),
      testConfig({ JWT_SECRET: "a".repeat(40), JWT_ISSUER: "someone-else" }),
      testConfig({ JWT_SECRET: "a".repeat(40), JWT_AUDIENCE: "someone-else" }),
    ]) {
      await expect(verifyAccessToken(other, token)).rejects.toMatchObject({ status: 401 });
    }
  });

  it("stops accepting a cached token once it expires", async () => {
    const config = testConfig({ ACCESS_TOKEN_TTL_SECONDS: "60" });
    const token = await signAccessToken(config, { userId: "usr_cache2", role: "merchant" });
    await verifyAccessToken(config, token);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 61_000);
    await expect(verifyAccessToken(config, token)).rejects.toMatchObject({ code: "token_expired" });
  });
});
