import { request } from "node:http";
import { afterAll, describe, expect, it } from "vitest";
import { startApi } from "../api/server.ts";
import { closeServices, makeServices } from "./support/app.ts";

const services = await makeServices();
const api = await startApi(services, 0);
afterAll(async () => {
  await api.close();
  await closeServices(services);
});

/** A raw HTTP/1.1 request to the real server: declared length or chunked. */
function send(body: string, framing: "length" | "chunked"): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: api.port,
        method: "POST",
        path: "/api/v1/payments",
        headers: {
          "content-type": "application/json",
          ...(framing === "length" ? { "content-length": Buffer.byteLength(body) } : {}),
        },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => {
          text += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on("error", reject);
    if (framing === "chunked") {
      // Several writes without a length: Node sends Transfer-Encoding: chunked.
      for (let i = 0; i < body.length; i += 16_384) req.write(body.slice(i, i + 16_384));
      req.end();
    } else {
      req.end(body);
    }
  });
}

describe("the body size limit on the real HTTP server", () => {
  const big = JSON.stringify({ description: "x".repeat(100_000) });

  it.each(["length", "chunked"] as const)(
    "answers an oversized %s body with 413 problem+json",
    async (framing) => {
      const res = await send(big, framing);
      expect(res.status).toBe(413);
      expect(JSON.parse(res.body)).toMatchObject({ status: 413, code: "payload_too_large" });
    },
  );

  it.each(["length", "chunked"] as const)(
    "lets a small %s body through to authentication",
    async (framing) => {
      const res = await send(JSON.stringify({ amount: "1.00" }), framing);
      expect(res.status).toBe(401);
    },
  );
});

describe("request ids on the real HTTP server", () => {
  it("answers every response with x-request-id: its own, or the caller's when well-formed", async () => {
    const base = `http://127.0.0.1:${api.port}`;
    for (const [path, status] of [
      ["/health", 200],
      ["/api/v1/accounts", 401],
      ["/no/such/route", 404],
    ] as const) {
      const res = await fetch(`${base}${path}`);
      expect(res.status).toBe(status);
      expect([path, res.headers.get("x-request-id")]).toEqual([
        path,
        expect.stringMatching(/^req_[0-9a-f-]{36}$/),
      ]);
    }
    const echoed = await fetch(`${base}/health`, { headers: { "x-request-id": "trace-42" } });
    expect(echoed.headers.get("x-request-id")).toBe("trace-42");
    const refused = await fetch(`${base}/health`, { headers: { "x-request-id": "bad id with spaces" } });
    expect(refused.headers.get("x-request-id")).toMatch(/^req_/);
  });
});
