/**
 * SSRF guard. DNS is replaced by a fixed table (only `localhost` goes to the real resolver, which
 * answers from /etc/hosts), so no test depends on, or sends anything to, the outside network.
 * Public addresses are only ever checked, never contacted.
 */
import type { LookupAddress } from "node:dns";
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { ValidationError } from "../shared/errors.ts";
import { webhookHeaders } from "../shared/webhooks/signature.ts";
import { assertPublicUrl, isPrivateAddress, postWebhook } from "../shared/webhooks/ssrf.ts";

type FakeAnswer = LookupAddress[] | "hang" | ((call: number) => LookupAddress[]);

const dns = vi.hoisted(() => ({
  table: new Map<string, FakeAnswer>(),
  calls: [] as string[],
}));

vi.mock("node:dns/promises", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:dns/promises")>();
  const lookup = async (
    host: string,
    options: { all: true; verbatim?: boolean },
  ): Promise<LookupAddress[]> => {
    dns.calls.push(host);
    if (host === "localhost") return actual.lookup(host, options);
    const answer = dns.table.get(host);
    if (answer === "hang") return new Promise<LookupAddress[]>(() => {});
    if (typeof answer === "function") return answer(dns.calls.filter((h) => h === host).length);
    if (answer) return answer;
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
  };
  return { ...actual, default: { ...actual, lookup }, lookup };
});

const v4 = (address: string): LookupAddress => ({ address, family: 4 });
const v6 = (address: string): LookupAddress => ({ address, family: 6 });

beforeEach(() => {
  dns.calls.length = 0;
  dns.table.clear();
  dns.table.set("public.test", [v4("93.184.216.34"), v6("2606:2800:220:1:248:1893:25c8:1946")]);
  dns.table.set("mixed.test", [v4("93.184.216.34"), v4("10.0.0.1")]);
  dns.table.set("v6-private.test", [v6("fd12:3456::1")]);
  dns.table.set("metadata.test", [v4("169.254.169.254")]);
  dns.table.set("hang.test", "hang");
});

async function refusal(url: string, allowPrivate = false, pointer?: string): Promise<ValidationError> {
  const err = await assertPublicUrl(
    url,
    pointer === undefined ? { allowPrivate } : { allowPrivate, pointer },
  ).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, `${url} should be refused`).toBeInstanceOf(ValidationError);
  return err as ValidationError;
}

describe("isPrivateAddress", () => {
  it.each([
    "0.0.0.0",
    "0.1.2.3",
    "10.0.0.1",
    "10.255.255.255",
    "100.64.0.1",
    "100.127.255.254",
    "127.0.0.1",
    "127.255.0.1",
    "169.254.169.254",
    "172.16.0.1",
    "172.31.255.255",
    "192.0.0.8",
    "192.0.2.1",
    "192.168.1.1",
    "198.18.0.1",
    "198.19.255.255",
    "198.51.100.7",
    "203.0.113.9",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "::",
    "::1",
    "fc00::1",
    "fd00::1",
    "fe80::1",
    "fe80::1%eth0",
    "febf::1",
    "ff02::1",
    "2001:db8::1",
    "64:ff9b::7f00:1",
    "64:ff9b::10.0.0.1",
    "::ffff:127.0.0.1",
    "::ffff:7f00:1",
    "::ffff:10.1.2.3",
    "::ffff:169.254.169.254",
    "::127.0.0.1",
    "::7f00:1",
    "::ffff:0:127.0.0.1",
    "2002:7f00:1::1",
    "2002:c0a8:101::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "100::1",
  ])("%s is private", (ip) => {
    expect(isPrivateAddress(ip)).toBe(true);
  });

  it.each([
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "100.63.255.255",
    "100.128.0.1",
    "172.15.255.255",
    "172.32.0.1",
    "192.0.1.1",
    "198.20.0.1",
    "223.255.255.254",
    "2606:4700::1",
    "2a00:1450:4001:81a::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::8.8.8.8",
    "2002:808:808::1",
  ])("%s is public", (ip) => {
    expect(isPrivateAddress(ip)).toBe(false);
  });

  it.each([
    "",
    "localhost",
    "example.com",
    "2130706433",
    "0x7f000001",
    "0177.0.0.1",
    "127.1",
    "256.0.0.1",
    "1.2.3.4.5",
    "[::1]",
    "::g",
  ])("%j is not an IP and is refused", (ip) => {
    expect(isPrivateAddress(ip)).toBe(true);
  });
});

describe("URL parsing normalizes odd IPv4 spellings", () => {
  it.each([
    ["http://2130706433/", "127.0.0.1"],
    ["http://0x7f000001/", "127.0.0.1"],
    ["http://0177.0.0.1/", "127.0.0.1"],
    ["http://0x7f.1/", "127.0.0.1"],
    ["http://127.1/", "127.0.0.1"],
    ["http://[::ffff:127.0.0.1]/", "[::ffff:7f00:1]"],
  ])("%s -> %s", (url, host) => {
    expect(new URL(url).hostname).toBe(host);
  });
});

describe("assertPublicUrl", () => {
  it.each([
    "http://127.0.0.1/",
    "http://10.0.0.1/",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://0x7f.1/",
    "http://127.1/",
    "http://localhost/",
    "http://localhost.:8080/",
    "http://192.168.1.1",
    "http://172.16.0.1",
    "http://[fd00::1]/",
    "http://[fe80::1]/",
    "https://[64:ff9b::a00:1]/",
    "http://0.0.0.0:8000/",
    "http://mixed.test/",
    "http://v6-private.test/",
    "https://metadata.test/",
    "http://does-not-resolve.test/",
  ])("refuses %s (url_not_allowed)", async (url) => {
    const err = await refusal(url);
    expect(err.code).toBe("url_not_allowed");
    expect(err.status).toBe(422);
    expect(err.errors).toEqual([{ pointer: "/url", detail: expect.any(String) }]);
  });

  it.each([
    "ftp://example.com",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_INFO",
    "javascript:alert(1)",
    "not a url",
    "/relative/path",
    "http://user:pass@example.com/",
    "https://token@example.com/",
  ])("refuses %s (url_invalid)", async (url) => {
    const err = await refusal(url);
    expect(err.code).toBe("url_invalid");
    expect(err.errors).toEqual([{ pointer: "/url", detail: expect.any(String) }]);
  });

  it("uses the given pointer", async () => {
    const err = await refusal("http://127.0.0.1/", false, "/webhook/url");
    expect(err.errors[0]?.pointer).toBe("/webhook/url");
  });

  it("accepts a public IP literal without DNS", async () => {
    const url = await assertPublicUrl("http://93.184.216.34/hooks?x=1", { allowPrivate: false });
    expect(url.href).toBe("http://93.184.216.34/hooks?x=1");
    await expect(
      assertPublicUrl("https://[2606:4700::1]:8443/", { allowPrivate: false }),
    ).resolves.toBeInstanceOf(URL);
    expect(dns.calls).toEqual([]);
  });

  it("accepts a name resolving only to public addresses", async () => {
    const url = await assertPublicUrl("https://public.test/webhooks", { allowPrivate: false });
    expect(url.hostname).toBe("public.test");
    expect(dns.calls).toEqual(["public.test"]);
  });

  it("lets everything http(s) through with allowPrivate", async () => {
    for (const url of ["http://127.0.0.1:3000/", "http://localhost/", "http://[::1]/", "http://10.0.0.1/"]) {
      await expect(assertPublicUrl(url, { allowPrivate: true })).resolves.toBeInstanceOf(URL);
    }
    expect((await refusal("ftp://example.com", true)).code).toBe("url_invalid");
  });
});

describe("postWebhook target checks", () => {
  let server: http.Server;
  let port: number;
  const hits: Array<{ host: string | undefined }> = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      hits.push({ host: req.headers.host });
      req.resume();
      req.on("end", () => res.writeHead(204).end());
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, "close");
  });

  beforeEach(() => {
    hits.length = 0;
  });

  const body = '{"id":"evt_1"}';
  const headers = webhookHeaders({
    id: "evt_1",
    timestamp: 1_700_000_000,
    body,
    secrets: ["whsec_AAAAAAAA"],
  });
  const post = (url: string, allowPrivate: boolean, timeoutMs = 2000) =>
    postWebhook({ url, headers, body, timeoutMs, allowPrivate });

  it("refuses a loopback literal and the receiver gets nothing", async () => {
    const result = await post(`http://127.0.0.1:${port}/`, false);
    expect(result.statusCode).toBeNull();
    expect(result.error).toMatch(/^target address not allowed: /);
    expect(hits).toEqual([]);
  });

  it("refuses a name resolving to loopback", async () => {
    const result = await post(`http://localhost:${port}/`, false);
    expect(result).toMatchObject({ statusCode: null, retryAfterSeconds: null });
    expect(result.error).toMatch(/^target address not allowed: localhost resolves to /);
    expect(hits).toEqual([]);
  });

  it("refuses a name when any of its addresses is private", async () => {
    const result = await post("http://mixed.test/", false);
    expect(result.error).toBe(
      "target address not allowed: mixed.test resolves to a private or reserved address",
    );
  });

  it("delivers to loopback with allowPrivate", async () => {
    const result = await post(`http://127.0.0.1:${port}/`, true);
    expect(result).toMatchObject({ statusCode: 204, error: null });
    expect(hits).toHaveLength(1);
  });

  it("resolves once and connects to the checked address, keeping the original Host", async () => {
    // A rebinding resolver: the first answer is the one checked; any later lookup would fail.
    dns.table.set("rebind.test", (call) => {
      if (call === 1) return [v4("127.0.0.1")];
      throw Object.assign(new Error("rebound"), { code: "EREBOUND" });
    });
    const result = await post(`http://rebind.test:${port}/hook`, true);
    expect(result).toMatchObject({ statusCode: 204, error: null });
    expect(dns.calls).toEqual(["rebind.test"]);
    expect(hits).toEqual([{ host: `rebind.test:${port}` }]);
  });

  it("reports an unresolvable name", async () => {
    const result = await post("http://does-not-resolve.test/", false);
    expect(result).toMatchObject({ statusCode: null, error: "dns lookup failed: ENOTFOUND" });
  });

  it("bounds a hanging DNS lookup by timeoutMs", async () => {
    const result = await post("http://hang.test/", false, 300);
    expect(result).toMatchObject({ statusCode: null, error: "timeout after 300 ms" });
    expect(result.durationMs).toBeLessThan(2000);
  });

  it("reports a non-http(s) URL without throwing", async () => {
    const result = await post("ftp://example.com/", true);
    expect(result.statusCode).toBeNull();
    expect(result.error).toMatch(/^invalid url: /);
  });
});
