/**
 * npm run bench:floor: what this machine gives any HTTP service in front of Postgres, measured
 * beside baseline A in the same run, so that the app's figures from `npm run bench` can be read
 * against both: A is what a naive synchronous design reaches, the floor what the stack and the
 * machine leave once a request does almost nothing.
 *
 * 1. Baseline A, as `npm run bench` runs it (bench/baseline.ts).
 * 2. The floor server (bench/floor-server.mjs: hono, @hono/node-server and postgres.js, as the app;
 *    one durable group-committed INSERT per request and a 202 JSON answer; no authentication,
 *    validation, idempotency, ledger, queue or event), started with plain `node` in a process group
 *    of its own on a fresh `payments_bench_floor` database, driven by the same load generator
 *    (bench/load.ts) and the same requests as the app's scenarios:
 *    - closed: BENCH_CONCURRENCY (64) loops for BENCH_SECONDS (15), after 5 s unmeasured;
 *    - open: BENCH_RATE (1,000) requests/s for BENCH_OPEN_SECONDS (30), each latency counted from
 *      its scheduled send time.
 *    For each: requests/s, the ratio to A, latency p50/p99, errors, and CPU per request of the
 *    server, Postgres (this database's backends and the server's own processes) and the generator.
 *
 * Knobs as `npm run bench`: BENCH_SECONDS, BENCH_CONCURRENCY, BENCH_RATE, BENCH_OPEN_SECONDS,
 * BENCH_OPEN_CONNECTIONS, BENCH_BASELINE_SECONDS, BENCH_BASELINE=off, BENCH_PORT,
 * BENCH_DATABASE_URL or DATABASE_URL (the server). The database is dropped afterwards.
 */
import { fileURLToPath } from "node:url";
import { startApp } from "./app.ts";
import { type BaselineResult, runBaselineA } from "./baseline.ts";
import { benchServerUrl, checkpoint, databaseUrl, dropDatabase, recreateDatabase } from "./fixtures.ts";
import { positive } from "./knobs.ts";
import { closedLoop, createClient, type LoadResult, type NextPayment, openLoop, percentile } from "./load.ts";
import { ProcSampler } from "./procs.ts";
import { cpuPerUnit } from "./report.ts";

const DATABASE = "payments_bench_floor";
const WARMUP_SECONDS = 5;
const REQUEST_TIMEOUT_MS = 10_000;
const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

const knobs = {
  seconds: positive("BENCH_SECONDS", 15),
  concurrency: Math.floor(positive("BENCH_CONCURRENCY", 64)),
  rate: positive("BENCH_RATE", 1000),
  openSeconds: positive("BENCH_OPEN_SECONDS", 30),
  openConnections: Math.floor(positive("BENCH_OPEN_CONNECTIONS", 256)),
  baseline: process.env.BENCH_BASELINE !== "off",
  baselineSeconds: Math.floor(positive("BENCH_BASELINE_SECONDS", 20)),
  port: Math.floor(positive("BENCH_PORT", 8099)),
  server: benchServerUrl(),
};

/** The app's scenarios' request shape: 200 payers to 5 payees, "1.00", a fresh key each. */
const next: NextPayment = (n) => ({
  token: "floor",
  from: `payer-${n % 200}`,
  to: `payee-${n % 5}`,
  amount: "1.00",
  idempotencyKey: `floor-${n}`,
});

interface Part {
  part: string;
  /** A closed loop's rate is what the server can do, so it has a ratio to A; an open loop's is the offered rate. */
  closed: boolean;
  load: LoadResult;
  cpuUs: Record<string, number>;
}

async function measure(
  part: string,
  closed: boolean,
  pgid: number,
  run: () => Promise<LoadResult>,
): Promise<Part> {
  const sampler = new ProcSampler(pgid, DATABASE);
  sampler.beginCpu();
  const benchCpu = process.cpuUsage();
  const load = await run();
  const cpu = sampler.endCpu();
  const bench = process.cpuUsage(benchCpu);
  const pct = { ...cpu.pct, bench: (bench.user + bench.system) / 1e4 / cpu.seconds };
  // The group holds only the server (`exec node`), whatever /proc calls it: its kinds are the app's.
  const us = cpuPerUnit(pct, load.accepted / cpu.seconds, Object.keys(cpu.processes));
  return {
    part,
    closed,
    load,
    cpuUs: { server: us.app ?? 0, postgres: us.postgres ?? 0, bench: us.bench ?? 0 },
  };
}

function print(parts: Part[], baseline: BaselineResult | null): void {
  const rows = parts.map(({ part, closed, load, cpuUs }) => {
    const perSecond = load.accepted / load.seconds;
    return [
      part,
      perSecond.toFixed(0),
      baseline && closed ? `${(perSecond / baseline.tps).toFixed(2)} x` : "n/a",
      `${percentile(load.latencies, 50).toFixed(1)} / ${percentile(load.latencies, 99).toFixed(1)} ms`,
      String(load.errors),
      `${cpuUs.server} + ${cpuUs.postgres} + ${cpuUs.bench}`,
    ];
  });
  const head = [
    "floor",
    "requests/s",
    "x A",
    "p50 / p99",
    "errors",
    "CPU µs/request: server + postgres + bench",
  ];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  if (baseline) console.log(`baseline A: ${baseline.tps.toFixed(0)} transfers/s`);
  console.log(line(head));
  console.log(line(widths.map((w) => "-".repeat(w))));
  for (const r of rows) console.log(line(r));
  console.log(
    JSON.stringify({
      bench: "floor",
      at: new Date().toISOString(),
      knobs,
      baseline_a: baseline?.tps ?? null,
      parts: parts.map(({ part, closed, load, cpuUs }) => ({
        part,
        ratio_to_a: baseline && closed ? load.accepted / load.seconds / baseline.tps : null,
        per_s: Math.round(load.accepted / load.seconds),
        p50_ms: percentile(load.latencies, 50),
        p99_ms: percentile(load.latencies, 99),
        errors: load.errors,
        cpu_us_per_request: cpuUs,
      })),
    }),
  );
}

async function main(): Promise<void> {
  console.log(`bench:floor: ${JSON.stringify(knobs)}`);
  const baseline = knobs.baseline ? await runBaselineA(knobs.server, knobs.baselineSeconds) : null;
  await recreateDatabase(knobs.server, DATABASE);
  await checkpoint(knobs.server);
  const app = await startApp({
    dir: REPO_ROOT,
    command: "exec node bench/floor-server.mjs",
    port: knobs.port,
    env: { ...process.env, DATABASE_URL: databaseUrl(knobs.server, DATABASE), PORT: String(knobs.port) },
    readyTimeoutMs: 30_000,
  });
  const origin = `http://127.0.0.1:${knobs.port}`;
  try {
    const closed = createClient(origin, knobs.concurrency, REQUEST_TIMEOUT_MS);
    const loop = (seconds: number) => closedLoop(closed, { concurrency: knobs.concurrency, seconds, next });
    await loop(WARMUP_SECONDS);
    const parts = [
      await measure(`closed, ${knobs.concurrency} loops`, true, app.pgid, () => loop(knobs.seconds)),
    ];
    await closed.close();
    const open = createClient(origin, knobs.openConnections, REQUEST_TIMEOUT_MS);
    parts.push(
      await measure(`open, ${knobs.rate}/s`, false, app.pgid, () =>
        openLoop(open, {
          rate: knobs.rate,
          seconds: knobs.openSeconds,
          maxOutstanding: 2000,
          timeoutMs: REQUEST_TIMEOUT_MS,
          next,
        }),
      ),
    );
    await open.close();
    print(parts, baseline);
  } finally {
    await app.stop(10_000);
    await dropDatabase(knobs.server, DATABASE);
  }
}

await main();
