/**
 * Load generators for POST /api/v1/payments over undici (keep-alive connections, far cheaper on
 * CPU than global fetch; the generator shares the machine's cores with the system under test).
 *
 * - closedLoop: `concurrency` loops, each sends a request, waits for its answer, sends the next.
 *   Latency is measured from the send.
 * - openLoop: request i is due at t0 + i / rate whatever happened to the earlier ones, and its
 *   latency is measured from that scheduled time (no coordinated omission: a stall of the system,
 *   or of the generator, shows up in the latencies of every request that should have been sent
 *   meanwhile). Never waits for an answer before sending; more than `maxOutstanding` requests in
 *   flight, or no answer within `timeoutMs` of the scheduled time, counts as an error.
 */
import { Pool } from "undici";

export interface PaymentRequest {
  token: string;
  from: string;
  to: string;
  amount: string;
  idempotencyKey: string;
}

/** Builds the n-th request of a run. */
export type NextPayment = (n: number) => PaymentRequest;

export interface LoadResult {
  /** Requests answered 202. */
  accepted: number;
  /** Latencies of the accepted requests, ms, sorted. */
  latencies: number[];
  errors: number;
  /** Error count per kind (`<status> <problem code>`, a client error code, ...). */
  errorKinds: Record<string, number>;
  /** Seconds the load ran (closed: until the last loop stopped; open: the schedule's length). */
  seconds: number;
  /** Open loop only: how late the generator sent requests versus their schedule, ms. */
  sendLagP99?: number;
}

export function createClient(origin: string, connections: number, timeoutMs: number): Pool {
  return new Pool(origin, {
    connections,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
}

class Recorder {
  accepted = 0;
  errors = 0;
  readonly latencies: number[] = [];
  readonly errorKinds: Record<string, number> = {};

  ok(ms: number): void {
    this.accepted++;
    this.latencies.push(ms);
  }

  fail(kind: string): void {
    this.errors++;
    this.errorKinds[kind] = (this.errorKinds[kind] ?? 0) + 1;
  }

  result(seconds: number): LoadResult {
    return {
      accepted: this.accepted,
      latencies: this.latencies.sort((a, b) => a - b),
      errors: this.errors,
      errorKinds: this.errorKinds,
      seconds,
    };
  }
}

/** Sends one payment; resolves to null when accepted (202), else to the kind of failure. */
async function send(pool: Pool, p: PaymentRequest): Promise<string | null> {
  try {
    const { statusCode, body } = await pool.request({
      path: "/api/v1/payments",
      method: "POST",
      headers: {
        authorization: `Bearer ${p.token}`,
        "content-type": "application/json",
        "idempotency-key": p.idempotencyKey,
      },
      body: JSON.stringify({ from_account: p.from, to_account: p.to, amount: p.amount, currency: "USD" }),
    });
    if (statusCode === 202) {
      await body.dump();
      return null;
    }
    const text = await body.text();
    let code = "";
    try {
      code = String((JSON.parse(text) as { code?: unknown }).code ?? "");
    } catch {
      code = text.slice(0, 40);
    }
    return `${statusCode} ${code}`.trim();
  } catch (err) {
    return (err as { code?: string }).code ?? (err as Error).message ?? String(err);
  }
}

export async function closedLoop(
  pool: Pool,
  opts: { concurrency: number; seconds: number; next: NextPayment },
): Promise<LoadResult> {
  const rec = new Recorder();
  let seq = 0;
  const started = performance.now();
  const deadline = started + opts.seconds * 1000;
  const loop = async () => {
    while (performance.now() < deadline) {
      const request = opts.next(seq++);
      const t0 = performance.now();
      const failure = await send(pool, request);
      if (failure === null) rec.ok(performance.now() - t0);
      else rec.fail(failure);
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, loop));
  return rec.result((performance.now() - started) / 1000);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function openLoop(
  pool: Pool,
  opts: { rate: number; seconds: number; maxOutstanding: number; timeoutMs: number; next: NextPayment },
): Promise<LoadResult> {
  const rec = new Recorder();
  const total = Math.floor(opts.rate * opts.seconds);
  const interval = 1000 / opts.rate;
  const inFlight = new Set<Promise<void>>();
  const lags: number[] = [];
  let abandoned = false;
  const t0 = performance.now() + 10;

  const fire = (n: number, due: number) => {
    const done = send(pool, opts.next(n)).then((failure) => {
      const ms = performance.now() - due;
      if (abandoned || ms > opts.timeoutMs) rec.fail(`no answer within ${opts.timeoutMs} ms`);
      else if (failure === null) rec.ok(ms);
      else rec.fail(failure);
      inFlight.delete(done);
    });
    inFlight.add(done);
  };

  for (let n = 0; n < total; ) {
    const now = performance.now();
    const due = t0 + n * interval;
    if (due > now) {
      await sleep(due - now);
      continue;
    }
    // Send everything that is due now (several per timer tick at high rates).
    lags.push(now - due);
    if (inFlight.size >= opts.maxOutstanding) rec.fail(`over ${opts.maxOutstanding} outstanding`);
    else fire(n, due);
    n++;
  }

  // Answers still missing after the last request's timeout are errors.
  const lastDue = t0 + (total - 1) * interval;
  while (inFlight.size > 0 && performance.now() < lastDue + opts.timeoutMs) await sleep(20);
  if (inFlight.size > 0) {
    abandoned = true;
    await pool.destroy().catch(() => {});
    await Promise.allSettled([...inFlight]);
  }
  const result = rec.result(total / opts.rate);
  lags.sort((a, b) => a - b);
  result.sendLagP99 = percentile(lags, 99);
  return result;
}

/** Nearest-rank percentile of a sorted array (NaN when empty). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))]!;
}
