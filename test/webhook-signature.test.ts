/**
 * Standard Webhooks signing, checked end to end: a real receiver on loopback gets a delivery from
 * postWebhook and verifies it with the reference `standardwebhooks` library, so a drift from the
 * spec (key decoding, signed content, header names) fails here rather than at a merchant.
 */
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateWebhookSecret, signPayload, webhookHeaders } from "../shared/webhooks/signature.ts";
import { parseRetryAfter, postWebhook } from "../shared/webhooks/ssrf.ts";

interface Received {
  path: string;
  headers: Record<string, string>;
  body: string;
}

const received: Received[] = [];
let server: http.Server;
let base: string;

/** Routes by path so each test picks the receiver behaviour it needs. */
function handle(req: http.IncomingMessage, res: http.ServerResponse, body: string): void {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (typeof value === "string") headers[name] = value;
  }
  const path = req.url ?? "/";
  received.push({ path, headers, body });
  if (path === "/ok") {
    res.writeHead(200, { "content-type": "text/plain" }).end("ok");
  } else if (path === "/redirect") {
    res.writeHead(302, { location: `${base}/redirect-target` }).end();
  } else if (path === "/hang") {
    // Never answer: the client must give up on its own.
  } else if (path === "/slow-body") {
    res.writeHead(200);
    res.write("partial");
    // Headers are in but the body never ends.
  } else if (path === "/big") {
    res.writeHead(200);
    res.end(Buffer.alloc(1024 * 1024, 0x61));
  } else if (path === "/retry-seconds") {
    res.writeHead(503, { "retry-after": "120" }).end();
  } else if (path === "/retry-date") {
    res.writeHead(429, { "retry-after": new Date(Date.now() + 90_000).toUTCString() }).end();
  } else if (path === "/retry-bad") {
    res.writeHead(503, { "retry-after": "soon" }).end();
  } else if (path === "/gone") {
    res.writeHead(410).end();
  } else {
    res.writeHead(404).end();
  }
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => handle(req, res, Buffer.concat(chunks).toString("utf8")));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  server.close();
  await once(server, "close");
});

const nowSeconds = () => Math.floor(Date.now() / 1000);

function delivery(secrets: string[], body = JSON.stringify({ id: "evt_1", type: "payment.succeeded" })) {
  const timestamp = nowSeconds();
  return { id: "evt_1", timestamp, body, headers: webhookHeaders({ id: "evt_1", timestamp, body, secrets }) };
}

describe("generateWebhookSecret", () => {
  it("is whsec_ + base64 of 32 random bytes", () => {
    const secret = generateWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(secret.slice("whsec_".length), "base64")).toHaveLength(32);
    expect(generateWebhookSecret()).not.toBe(secret);
  });

  it("is accepted by the standardwebhooks library", () => {
    expect(() => new Webhook(generateWebhookSecret())).not.toThrow();
  });
});

describe("signPayload", () => {
  it("matches the reference library byte for byte", () => {
    const secret = generateWebhookSecret();
    const timestamp = 1_700_000_000;
    const body = '{"a":"ünïcödé €"}';
    expect(signPayload({ id: "evt_x", timestamp, body, secrets: [secret] })).toBe(
      new Webhook(secret).sign("evt_x", new Date(timestamp * 1000), body),
    );
  });

  it("matches a known vector", () => {
    // The example from the Standard Webhooks spec / reference test suite.
    const signature = signPayload({
      id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
      timestamp: 1614265330,
      body: '{"test": 2432232314}',
      secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    });
    expect(signature).toBe("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  });

  it("signs once per secret, space-separated", () => {
    const signature = signPayload({
      id: "evt_1",
      timestamp: 1,
      body: "{}",
      secrets: ["whsec_AAAA", "whsec_BBBB"],
    });
    expect(signature.split(" ")).toHaveLength(2);
    for (const part of signature.split(" ")) expect(part).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
  });

  it("refuses fractional timestamps and an empty secret list", () => {
    const secrets = [generateWebhookSecret()];
    expect(() => signPayload({ id: "e", timestamp: 1.5, body: "{}", secrets })).toThrow();
    expect(() => signPayload({ id: "e", timestamp: 1, body: "{}", secrets: [] })).toThrow();
  });
});

describe("webhookHeaders", () => {
  it("carries the Standard Webhooks headers", () => {
    const secret = generateWebhookSecret();
    const headers = webhookHeaders({ id: "evt_9", timestamp: 1_700_000_000, body: "{}", secrets: [secret] });
    expect(headers).toEqual({
      "webhook-id": "evt_9",
      "webhook-timestamp": "1700000000",
      "webhook-signature": signPayload({
        id: "evt_9",
        timestamp: 1_700_000_000,
        body: "{}",
        secrets: [secret],
      }),
      "content-type": "application/json",
      "user-agent": "payments-webhooks/1",
    });
  });
});

describe("delivery to a real receiver", () => {
  it("is verified by the standardwebhooks library", async () => {
    const secret = generateWebhookSecret();
    const { body, headers } = delivery([secret]);
    const before = received.length;
    const result = await postWebhook({
      url: `${base}/ok`,
      headers,
      body,
      timeoutMs: 5000,
      allowPrivate: true,
    });
    expect(result).toMatchObject({ statusCode: 200, error: null, retryAfterSeconds: null });
    expect(result.durationMs).toBeGreaterThanOrEqual(0);

    const got = received.slice(before);
    expect(got).toHaveLength(1);
    const req = got[0]!;
    expect(req.body).toBe(body);
    expect(req.headers["content-type"]).toBe("application/json");
    expect(req.headers["user-agent"]).toBe("payments-webhooks/1");
    expect(req.headers["content-length"]).toBe(String(Buffer.byteLength(body)));
    expect(new Webhook(secret).verify(req.body, req.headers)).toEqual(JSON.parse(body));
  });

  it("fails verification when the body is tampered with", async () => {
    const secret = generateWebhookSecret();
    const { body, headers } = delivery([secret]);
    const before = received.length;
    await postWebhook({ url: `${base}/ok`, headers, body, timeoutMs: 5000, allowPrivate: true });
    const req = received[before]!;
    const tampered = req.body.replace("payment.succeeded", "payment.failed");
    expect(tampered).not.toBe(req.body);
    expect(() => new Webhook(secret).verify(tampered, req.headers)).toThrow(/signature/i);
  });

  it("fails verification with a stale timestamp (older than 5 minutes)", () => {
    const secret = generateWebhookSecret();
    const body = "{}";
    const headers = webhookHeaders({ id: "evt_old", timestamp: nowSeconds() - 301, body, secrets: [secret] });
    expect(() => new Webhook(secret).verify(body, headers)).toThrow(/too old/i);
  });

  it("fails verification with the wrong secret", () => {
    const { body, headers } = delivery([generateWebhookSecret()]);
    expect(() => new Webhook(generateWebhookSecret()).verify(body, headers)).toThrow();
  });

  it("signs with every active secret, each verifying on its own", async () => {
    const oldSecret = generateWebhookSecret();
    const newSecret = generateWebhookSecret();
    const { body, headers } = delivery([oldSecret, newSecret]);
    const before = received.length;
    await postWebhook({ url: `${base}/ok`, headers, body, timeoutMs: 5000, allowPrivate: true });
    const req = received[before]!;

    const signatures = req.headers["webhook-signature"]!.split(" ");
    expect(signatures).toHaveLength(2);
    expect(() => new Webhook(oldSecret).verify(req.body, req.headers)).not.toThrow();
    expect(() => new Webhook(newSecret).verify(req.body, req.headers)).not.toThrow();
    // Each signature belongs to exactly one secret.
    const only = (sig: string) => ({ ...req.headers, "webhook-signature": sig });
    expect(() => new Webhook(oldSecret).verify(req.body, only(signatures[0]!))).not.toThrow();
    expect(() => new Webhook(newSecret).verify(req.body, only(signatures[1]!))).not.toThrow();
    expect(() => new Webhook(newSecret).verify(req.body, only(signatures[0]!))).toThrow();
    expect(() => new Webhook(generateWebhookSecret()).verify(req.body, req.headers)).toThrow();
  });

  it("does not follow redirects", async () => {
    const { body, headers } = delivery([generateWebhookSecret()]);
    const before = received.length;
    const result = await postWebhook({
      url: `${base}/redirect`,
      headers,
      body,
      timeoutMs: 5000,
      allowPrivate: true,
    });
    expect(result).toMatchObject({ statusCode: 302, error: null });
    expect(received.slice(before).map((r) => r.path)).toEqual(["/redirect"]);
  });

  it("reports other statuses as they are", async () => {
    const { body, headers } = delivery([generateWebhookSecret()]);
    const result = await postWebhook({
      url: `${base}/gone`,
      headers,
      body,
      timeoutMs: 5000,
      allowPrivate: true,
    });
    expect(result).toMatchObject({ statusCode: 410, error: null });
  });

  it("times out at timeoutMs when the receiver never answers", async () => {
    const { body, headers } = delivery([generateWebhookSecret()]);
    const result = await postWebhook({
      url: `${base}/hang`,
      headers,
      body,
      timeoutMs: 300,
      allowPrivate: true,
    });
    expect(result).toMatchObject({
      statusCode: null,
      retryAfterSeconds: null,
      error: "timeout after 300 ms",
    });
    expect(result.durationMs).toBeGreaterThanOrEqual(250);
    expect(result.durationMs).toBeLessThan(2000);
  });

  it("keeps the status when headers arrived but the body stalls", async () => {
    const { body, headers } = delivery([generateWebhookSecret()]);
    const result = await postWebhook({
      url: `${base}/slow-body`,
      headers,
      body,
      timeoutMs: 300,
      allowPrivate: true,
    });
    expect(result).toMatchObject({ statusCode: 200, error: null });
    expect(result.durationMs).toBeLessThan(2000);
  });

  it("stops reading a large response body", async () => {
    const { body, headers } = delivery([generateWebhookSecret()]);
    const result = await postWebhook({
      url: `${base}/big`,
      headers,
      body,
      timeoutMs: 5000,
      allowPrivate: true,
    });
    expect(result).toMatchObject({ statusCode: 200, error: null });
  });

  it("reports a refused connection without throwing", async () => {
    const closed = http.createServer();
    closed.listen(0, "127.0.0.1");
    await once(closed, "listening");
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    await once(closed, "close");

    const { body, headers } = delivery([generateWebhookSecret()]);
    const result = await postWebhook({
      url: `http://127.0.0.1:${port}/`,
      headers,
      body,
      timeoutMs: 5000,
      allowPrivate: true,
    });
    expect(result).toMatchObject({ statusCode: null, error: "ECONNREFUSED" });
  });

  it("parses Retry-After in seconds", async () => {
    const { body, headers } = delivery([generateWebhookSecret()]);
    const result = await postWebhook({
      url: `${base}/retry-seconds`,
      headers,
      body,
      timeoutMs: 5000,
      allowPrivate: true,
    });
    expect(result).toMatchObject({ statusCode: 503, retryAfterSeconds: 120, error: null });
  });

  it("parses Retry-After as an HTTP date", async () => {
    const { body, headers } = delivery([generateWebhookSecret()]);
    const result = await postWebhook({
      url: `${base}/retry-date`,
      headers,
      body,
      timeoutMs: 5000,
      allowPrivate: true,
    });
    expect(result.statusCode).toBe(429);
    // HTTP dates have one-second resolution.
    expect(result.retryAfterSeconds).toBeGreaterThanOrEqual(88);
    expect(result.retryAfterSeconds).toBeLessThanOrEqual(91);
  });

  it("ignores an invalid Retry-After", async () => {
    const { body, headers } = delivery([generateWebhookSecret()]);
    const result = await postWebhook({
      url: `${base}/retry-bad`,
      headers,
      body,
      timeoutMs: 5000,
      allowPrivate: true,
    });
    expect(result).toMatchObject({ statusCode: 503, retryAfterSeconds: null });
  });
});

describe("parseRetryAfter", () => {
  const now = Date.parse("2025-01-01T00:00:00Z");
  it.each([
    [undefined, null],
    ["", null],
    ["0", 0],
    ["42", 42],
    [" 7 ", 7],
    ["-5", null],
    ["1.5", null],
    ["tomorrow", null],
    ["Wed, 01 Jan 2025 00:01:00 GMT", 60],
    ["Tue, 31 Dec 2024 23:00:00 GMT", 0],
    ["Wednesday, 01-Jan-25 00:01:00 GMT", 60],
  ])("%j -> %j", (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });
});
