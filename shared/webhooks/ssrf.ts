/**
 * SSRF guard for webhook delivery. Merchants choose the URL we POST to, so without this they
 * could make our workers reach loopback services, cloud metadata (169.254.169.254) or the
 * private network. Two layers: `assertPublicUrl` when an endpoint is saved (a clear 422), and
 * `postWebhook` at every delivery, which resolves once, checks every address and connects only
 * to a checked address, so a DNS answer that changes between check and connect (rebinding)
 * cannot redirect the request.
 */
import type { LookupAddress, LookupOptions } from "node:dns";
import { lookup } from "node:dns/promises";
import http from "node:http";
import https from "node:https";
import { isIP } from "node:net";
import { ValidationError } from "../errors.ts";
import { expandIPv6, parseIPv4 } from "../net.ts";

/** The response body is read only to free the socket; more than this is not worth waiting for. */
const MAX_RESPONSE_BYTES = 64 * 1024;
/** Cap on name resolution while validating a URL at save time. */
const VALIDATE_DNS_TIMEOUT_MS = 5_000;

/** IPv4 ranges that are not globally reachable unicast (RFC 6890 and friends). */
const PRIVATE_V4: ReadonlyArray<readonly [string, number]> = [
  ["0.0.0.0", 8], // "this network"
  ["10.0.0.0", 8], // RFC 1918
  ["100.64.0.0", 10], // carrier-grade NAT
  ["127.0.0.0", 8], // loopback
  ["169.254.0.0", 16], // link-local, cloud metadata
  ["172.16.0.0", 12], // RFC 1918
  ["192.0.0.0", 24], // IETF protocol assignments
  ["192.0.2.0", 24], // TEST-NET-1
  ["192.168.0.0", 16], // RFC 1918
  ["198.18.0.0", 15], // benchmarking
  ["198.51.100.0", 24], // TEST-NET-2
  ["203.0.113.0", 24], // TEST-NET-3
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, includes broadcast 255.255.255.255
];

function v4ToInt(octets: readonly number[]): number {
  return (
    (((octets[0] ?? 0) << 24) | ((octets[1] ?? 0) << 16) | ((octets[2] ?? 0) << 8) | (octets[3] ?? 0)) >>> 0
  );
}

const PRIVATE_V4_INT = PRIVATE_V4.map(([base, bits]) => {
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return { base: (v4ToInt(parseIPv4(base) ?? []) & mask) >>> 0, mask };
});

function isPrivateV4(octets: readonly number[]): boolean {
  const n = v4ToInt(octets);
  return PRIVATE_V4_INT.some(({ base, mask }) => (n & mask) >>> 0 === base);
}

/** Any valid IPv6 text (with optional zone and dotted tail) to its 16 bytes; null if invalid. */
function parseIPv6(ip: string): number[] | null {
  return expandIPv6(ip)?.flatMap((w) => [w >> 8, w & 0xff]) ?? null;
}

function startsWith(bytes: readonly number[], prefix: readonly number[]): boolean {
  return prefix.every((b, i) => bytes[i] === b);
}

function isPrivateV6(b: readonly number[]): boolean {
  const zeros = (n: number) => new Array<number>(n).fill(0);
  // Forms that carry an IPv4 address: judge them by that address.
  if (startsWith(b, [...zeros(10), 0xff, 0xff])) return isPrivateV4(b.slice(12)); // ::ffff:a.b.c.d mapped
  if (startsWith(b, zeros(12))) return isPrivateV4(b.slice(12)); // ::a.b.c.d compatible, also :: and ::1
  if (startsWith(b, [...zeros(8), 0xff, 0xff, 0, 0])) return isPrivateV4(b.slice(12)); // ::ffff:0:a.b.c.d
  if (startsWith(b, [0, 0x64, 0xff, 0x9b, ...zeros(8)])) return isPrivateV4(b.slice(12)); // NAT64 64:ff9b::/96
  if (startsWith(b, [0x20, 0x02])) return isPrivateV4(b.slice(2, 6)); // 6to4 2002::/16
  if (startsWith(b, [0, 0x64, 0xff, 0x9b, 0, 1])) return true; // local-use NAT64 64:ff9b:1::/48
  if (startsWith(b, [0x20, 0x01, 0, 0])) return true; // Teredo 2001::/32 (tunnels to an obfuscated v4)
  if (startsWith(b, [0x20, 0x01, 0x0d, 0xb8])) return true; // documentation 2001:db8::/32
  if (startsWith(b, [0x3f, 0xff]) && ((b[2] ?? 0) & 0xf0) === 0) return true; // documentation 3fff::/20
  // Only 2000::/3 is allocated global unicast; everything else (fc00::/7 unique local,
  // fe80::/10 link-local, ff00::/8 multicast, 100::/64 discard...) is not a webhook target.
  return ((b[0] ?? 0) & 0xe0) !== 0x20;
}

/** Whether `ip` must not be a webhook target. Unparseable input counts as private (refuse). */
export function isPrivateAddress(ip: string): boolean {
  const v4 = parseIPv4(ip);
  if (v4) return isPrivateV4(v4);
  const v6 = parseIPv6(ip);
  if (v6) return isPrivateV6(v6);
  return true;
}

/** URL.hostname keeps IPv6 literals bracketed; sockets and DNS want them bare. */
function bareHost(url: URL): string {
  return url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
}

type UrlProblem = { code: "url_invalid" | "url_not_allowed"; detail: string };

/** Shape checks shared by both entry points: an http(s) URL without credentials, or the problem. */
function checkShape(raw: string): { url: URL } | UrlProblem {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { code: "url_invalid", detail: "Must be an absolute URL." };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return { code: "url_invalid", detail: "Only http and https URLs are supported." };
  }
  if (url.username !== "" || url.password !== "") {
    return { code: "url_invalid", detail: "The URL must not contain credentials." };
  }
  return { url };
}

/** Settles like `promise`, or rejects once `signal` aborts (getaddrinfo itself has no timeout). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new Error("timeout"));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error("timeout"));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** The addresses `host` stands for: itself when it is a literal, else every DNS answer. */
async function resolveHost(host: string, signal: AbortSignal): Promise<LookupAddress[]> {
  const family = isIP(host);
  if (family !== 0) return [{ address: host, family }];
  const answers = await untilAborted(lookup(host, { all: true, verbatim: true }), signal);
  if (answers.length === 0) throw Object.assign(new Error("no addresses"), { code: "ENOTFOUND" });
  return answers;
}

function errorCode(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return typeof code === "string" && code !== "" ? code : err.message;
  }
  return String(err);
}

/**
 * Validates a webhook endpoint URL before it is stored. Throws ValidationError
 * (`url_invalid` / `url_not_allowed`) pointing at `opts.pointer` (default "/url").
 */
export async function assertPublicUrl(
  url: string,
  opts: { allowPrivate: boolean; pointer?: string },
): Promise<URL> {
  const pointer = opts.pointer ?? "/url";
  const reject = (problem: UrlProblem) =>
    new ValidationError(problem.code, problem.detail, { errors: [{ pointer, detail: problem.detail }] });
  const shape = checkShape(url);
  if (!("url" in shape)) throw reject(shape);
  if (opts.allowPrivate) return shape.url;

  const host = bareHost(shape.url);
  let addresses: LookupAddress[];
  try {
    addresses = await resolveHost(host, AbortSignal.timeout(VALIDATE_DNS_TIMEOUT_MS));
  } catch {
    throw reject({ code: "url_not_allowed", detail: `The host ${host} does not resolve.` });
  }
  const blocked = addresses.find((a) => isPrivateAddress(a.address));
  if (blocked) {
    const detail =
      blocked.address === host
        ? `The address ${host} is private, loopback or reserved.`
        : // Which internal address it is stays unsaid: the answer must not map private DNS.
          `The host ${host} resolves to a private, loopback or reserved address.`;
    throw reject({ code: "url_not_allowed", detail });
  }
  return shape.url;
}

export interface DeliveryResult {
  /** HTTP status of the answer; null when there was none (blocked, network error, timeout). */
  statusCode: number | null;
  /** From a Retry-After header, in seconds from now; null when absent or invalid. */
  retryAfterSeconds: number | null;
  durationMs: number;
  /** Short reason when there was no answer; null when there was one (even a non-2xx). */
  error: string | null;
}

/** Retry-After as delta-seconds or an HTTP-date (RFC 9110 10.2.3); never negative. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | null {
  const raw = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!raw) return null;
  if (/^\d+$/.test(raw)) return Number(raw);
  // Every HTTP-date form starts with a day name; Date.parse alone would also take "-5" or "1.5".
  if (!/^(mon|tue|wed|thu|fri|sat|sun)[a-z]*,?\s/i.test(raw)) return null;
  const at = Date.parse(raw);
  if (Number.isNaN(at)) return null;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

/**
 * A `lookup` for http.request that only ever answers with addresses we already checked, so the
 * socket connects to exactly what was validated. Handles both callback shapes Node uses
 * (`all: true` when autoSelectFamily is on).
 */
function pinnedLookup(addresses: LookupAddress[]) {
  return (
    _hostname: string,
    options: LookupOptions,
    callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ): void => {
    const wanted = options.family === 4 || options.family === 6 ? options.family : 0;
    const usable = addresses.filter((a) => wanted === 0 || a.family === wanted);
    const first = usable[0];
    if (!first) {
      callback(Object.assign(new Error("no usable address"), { code: "ENOTFOUND" }), "", 0);
    } else if (options.all) {
      callback(null, usable);
    } else {
      callback(null, first.address, first.family);
    }
  };
}

/**
 * Delivers one webhook POST. Never throws for network problems: every outcome, including a
 * blocked target, comes back as a DeliveryResult for the retry logic and the delivery log.
 * Redirects are not followed (a 3xx is just a non-2xx answer), since following one would let the
 * receiver point us anywhere after the check.
 */
export async function postWebhook(opts: {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  allowPrivate: boolean;
}): Promise<DeliveryResult> {
  const started = performance.now();
  const durationMs = () => Math.round(performance.now() - started);
  const failed = (error: string): DeliveryResult => ({
    statusCode: null,
    retryAfterSeconds: null,
    durationMs: durationMs(),
    error,
  });

  const shape = checkShape(opts.url);
  if (!("url" in shape)) return failed(`invalid url: ${shape.detail}`);
  const url = shape.url;
  const host = bareHost(url);
  const timeoutError = `timeout after ${opts.timeoutMs} ms`;

  // One deadline for the whole attempt: DNS, connect, TLS, response.
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), opts.timeoutMs);
  try {
    let addresses: LookupAddress[];
    try {
      addresses = await resolveHost(host, deadline.signal);
    } catch (err) {
      return failed(deadline.signal.aborted ? timeoutError : `dns lookup failed: ${errorCode(err)}`);
    }
    if (!opts.allowPrivate) {
      const blocked = addresses.find((a) => isPrivateAddress(a.address));
      if (blocked) {
        // Recorded as the attempt's error, which the endpoint's owner reads: no internal address.
        const target = blocked.address === host ? host : `${host} resolves to a private or reserved address`;
        return failed(`target address not allowed: ${target}`);
      }
    }
    return await send(url, addresses, opts, deadline.signal, timeoutError, durationMs);
  } finally {
    clearTimeout(timer);
  }
}

function send(
  url: URL,
  addresses: LookupAddress[],
  opts: { headers: Record<string, string>; body: string },
  signal: AbortSignal,
  timeoutError: string,
  durationMs: () => number,
): Promise<DeliveryResult> {
  return new Promise<DeliveryResult>((resolve) => {
    const body = Buffer.from(opts.body, "utf8");
    const host = bareHost(url);
    let statusCode: number | null = null;
    let retryAfterSeconds: number | null = null;
    let settled = false;

    const client = url.protocol === "https:" ? https : http;
    const req = client.request({
      method: "POST",
      protocol: url.protocol,
      hostname: host,
      port: url.port === "" ? undefined : Number(url.port),
      path: `${url.pathname}${url.search}`,
      headers: { ...opts.headers, "content-length": String(body.length) },
      lookup: pinnedLookup(addresses),
      // A fresh connection per attempt: no pooled socket outlives the checks above.
      agent: false,
      // Certificates are checked against the name the merchant gave, not the pinned address.
      ...(url.protocol === "https:" && isIP(host) === 0 ? { servername: host } : {}),
    });

    const finish = (error: string | null): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      req.destroy();
      resolve({ statusCode, retryAfterSeconds, durationMs: durationMs(), error });
    };
    // Once the status line is in, the receiver has answered; a slow body does not turn that into a timeout.
    const onAbort = (): void => finish(statusCode === null ? timeoutError : null);

    req.on("response", (res) => {
      statusCode = res.statusCode ?? null;
      retryAfterSeconds = parseRetryAfter(res.headers["retry-after"]);
      let received = 0;
      res.on("data", (chunk: Buffer) => {
        received += chunk.length;
        if (received >= MAX_RESPONSE_BYTES) finish(null);
      });
      res.on("end", () => finish(null));
      res.on("error", () => finish(null));
      res.on("close", () => finish(null));
    });
    req.on("error", (err) => finish(errorCode(err)));

    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    req.end(body);
  });
}
