import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { signAccessToken, verifyAccessToken } from "../shared/auth/tokens.ts";
import { makeUser, useApp } from "./support/app.ts";
import { expectProblem, registerAndLogin } from "./support/auth.ts";

const t = await useApp();
const config = t.services.config;
const secret = new TextEncoder().encode(config.JWT_SECRET);
const user = await makeUser(t.services, { role: "merchant" });

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
const now = () => Math.floor(Date.now() / 1000);

/** Claims of a valid access token for `user`; tests change one thing at a time. */
function claims(over: Record<string, unknown> = {}) {
  return {
    sub: user.id,
    role: "merchant",
    typ: "access",
    iss: config.JWT_ISSUER,
    aud: config.JWT_AUDIENCE,
    iat: now(),
    exp: now() + 600,
    ...over,
  };
}

function sign(payload: Record<string, unknown>, alg = "HS256", key: Parameters<SignJWT["sign"]>[0] = secret) {
  return new SignJWT(payload).setProtectedHeader({ alg, typ: "JWT" }).sign(key);
}

const me = (token: string) => t.request("GET", "/api/v1/auth/me", { token });

describe("access tokens: what is accepted", () => {
  it("a token signed as we sign passes (control for the cases below)", async () => {
    expect((await me(await sign(claims()))).status).toBe(200);
    expect((await me(user.token)).status).toBe(200);
  });
});

describe("access tokens: every forgery and misuse is a 401", () => {
  const cases: [string, () => Promise<string>][] = [
    ["alg none (unsigned)", async () => `${b64({ alg: "none", typ: "JWT" })}.${b64(claims())}.`],
    [
      "alg None with a signature",
      async () => {
        const real = (await sign(claims())).split(".");
        return `${b64({ alg: "None", typ: "JWT" })}.${real[1]}.${real[2]}`;
      },
    ],
    ["HS512 with the right secret", () => sign(claims(), "HS512")],
    ["HS384 with the right secret", () => sign(claims(), "HS384")],
    [
      "RS256 with a generated key pair",
      async () => {
        const { privateKey } = await generateKeyPair("RS256");
        return sign(claims(), "RS256", privateKey);
      },
    ],
    [
      "ES256 with a generated key pair",
      async () => {
        const { privateKey } = await generateKeyPair("ES256");
        return sign(claims(), "ES256", privateKey);
      },
    ],
    [
      "RS256 header, HMAC'd with an RSA public key as secret (key confusion)",
      async () => {
        const { publicKey } = await generateKeyPair("RS256", { extractable: true });
        const jwk = JSON.stringify(await exportJWK(publicKey));
        const forged = await sign(claims(), "HS256", new TextEncoder().encode(jwk));
        const [, payload, sig] = forged.split(".");
        return `${b64({ alg: "RS256", typ: "JWT" })}.${payload}.${sig}`;
      },
    ],
    [
      "HS256 with another secret (bad signature)",
      () =>
        sign(claims(), "HS256", new TextEncoder().encode("another-secret-that-is-long-enough-0123456789")),
    ],
    ["signature stripped", async () => `${(await sign(claims())).split(".").slice(0, 2).join(".")}.`],
    [
      "tampered payload (role raised to admin)",
      async () => {
        const [h, , s] = (await sign(claims())).split(".");
        return `${h}.${b64(claims({ role: "admin" }))}.${s}`;
      },
    ],
    [
      "tampered payload (other subject)",
      async () => {
        const [h, , s] = (await sign(claims())).split(".");
        return `${h}.${b64(claims({ sub: "usr_SOMEONEELSE" }))}.${s}`;
      },
    ],
    ["expired", () => sign(claims({ iat: now() - 120, exp: now() - 60 }))],
    ["not yet valid (nbf in the future)", () => sign(claims({ nbf: now() + 300 }))],
    ["wrong issuer", () => sign(claims({ iss: "someone-else" }))],
    ["no issuer", () => sign(claims({ iss: undefined }))],
    ["wrong audience", () => sign(claims({ aud: "another-api" }))],
    ["no audience", () => sign(claims({ aud: undefined }))],
    ["missing exp", () => sign(claims({ exp: undefined }))],
    ["missing sub", () => sign(claims({ sub: undefined }))],
    ["typ refresh", () => sign(claims({ typ: "refresh" }))],
    ["typ missing", () => sign(claims({ typ: undefined }))],
    ["unknown role claim", () => sign(claims({ role: "superuser" }))],
    ["missing role claim", () => sign(claims({ role: undefined }))],
    [
      "header typ not JWT",
      () => new SignJWT(claims()).setProtectedHeader({ alg: "HS256", typ: "at+jwt+x" }).sign(secret),
    ],
    ["not a JWT at all", async () => "definitely.not.ajwt"],
  ];

  it.each(cases)("%s", async (_label, make) => {
    const res = await me(await make());
    expectProblem(res, 401);
    expect(["invalid_token", "token_expired"]).toContain(res.body.code);
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
  });

  it("expired tokens say so", async () => {
    const res = await me(await sign(claims({ iat: now() - 120, exp: now() - 60 })));
    expectProblem(res, 401, "token_expired");
  });

  it("a refresh token used as an access token", async () => {
    const u = await registerAndLogin(t);
    expectProblem(await me(u.refresh), 401, "invalid_token");
  });

  it("an access token of another deployment (other secret, same claims) is refused by verifyAccessToken", async () => {
    const other = { ...config, JWT_SECRET: "a-completely-different-secret-0123456789abcdef" };
    const token = await signAccessToken(other, { userId: user.id, role: "merchant" });
    await expect(verifyAccessToken(config, token)).rejects.toMatchObject({
      status: 401,
      code: "invalid_token",
    });
  });
});
