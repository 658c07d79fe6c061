/**
 * A real webhook receiver for the webhook tests: a node:http server on 127.0.0.1, port 0. Each
 * test uses paths of its own and says per path how to answer the n-th request (0-based); every
 * request is recorded with its exact body and headers so tests can verify signatures.
 */
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll } from "vitest";
import { waitFor } from "./wait.ts";

export interface Received {
  path: string;
  headers: Record<string, string>;
  body: string;
  /** Date.now() when the request arrived. */
  at: number;
}

export type Answer = { status: number; headers?: Record<string, string>; body?: string } | "hang";

export interface Receiver {
  base: string;
  url(path: string): string;
  /** How to answer requests to `path`; by default every request gets 200. */
  on(path: string, answer: (n: number) => Answer): void;
  received(path: string): Received[];
  /** Waits until `path` received at least `count` requests, and returns them. */
  waitFor(path: string, count?: number, timeoutMs?: number): Promise<Received[]>;
}

export async function useReceiver(): Promise<Receiver> {
  const log: Received[] = [];
  const answers = new Map<string, (n: number) => Answer>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = req.url ?? "/";
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers[k] = v;
      const n = log.filter((r) => r.path === path).length;
      log.push({ path, headers, body: Buffer.concat(chunks).toString("utf8"), at: Date.now() });
      const answer: Answer = (answers.get(path) ?? (() => ({ status: 200 })))(n);
      if (answer === "hang") return; // never answer; the socket closes when the client dies
      res.writeHead(answer.status, answer.headers ?? {}).end(answer.body ?? "");
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  afterAll(async () => {
    server.closeAllConnections();
    server.close();
  });
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;
  const received = (path: string) => log.filter((r) => r.path === path);
  return {
    base,
    url: (path) => `${base}${path}`,
    on: (path, answer) => {
      answers.set(path, answer);
    },
    received,
    waitFor: (path, count = 1, timeoutMs = 20_000) =>
      waitFor(async () => (received(path).length >= count ? received(path) : null), {
        timeoutMs,
        what: `${count} webhook request(s) to ${path}`,
      }),
  };
}

let pathCounter = 0;
/** A receiver path no other test uses. */
export function uniquePath(tag: string): string {
  pathCounter += 1;
  return `/${tag}-${pathCounter}`;
}
