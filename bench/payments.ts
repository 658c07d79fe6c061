/**
 * npm run bench: the payments benchmark.
 *
 * 1. Baseline A (bench/baseline.ts): pgbench runs one double-entry transfer per database
 *    transaction in a scratch database `baseline_a`; its tps is the yardstick, and each scenario's
 *    posted/s is reported as a ratio to it. Its CPU (Postgres and pgbench) gives its cost per
 *    transfer, beside each scenario's CPU per posted payment.
 * 2. Each scenario, on a fresh `payments_bench` database, a fresh queue prefix and a fresh app start:
 *    the app is started as a user starts it (`npm start` in the app directory, in a process group of
 *    its own) and migrates the database itself; the bench adds funded payer accounts and merchant
 *    payees, waits for GET /ready = 200, runs a CHECKPOINT (so no scenario pays for an earlier one's
 *    WAL), drives POST /api/v1/payments over HTTP (undici, keep-alive), waits until nothing
 *    is pending, reads accept->posted latencies from the payments' created_at/completed_at, checks
 *    the ledger, and stops the app (SIGTERM to its group, SIGKILL after 20 s).
 *    - spread: closed loop, payers -> 5 payees.
 *    - hot:    closed loop, payers -> 1 payee (one merchant: every posting credits the same row).
 *    - open:   open loop at a fixed offered rate, payers -> 5 payees; latency from each request's
 *              scheduled send time (no coordinated omission).
 *    During the load and the settle, /proc is sampled every 250 ms (bench/procs.ts): peak RSS of
 *    the app's process group, and CPU (% of one core, over the load) per process kind (npm, sh,
 *    tsx, primary, api, worker, node), Postgres, Redis and the bench itself; divided by posted/s,
 *    the CPU µs each posted payment cost, which unlike throughput compares runs of different speeds.
 * 3. A block per scenario, a summary table, the targets with PASS/FAIL (reported only: the exit
 *    status is 0 whatever they say), and last one JSON line with everything, for wrappers.
 *
 * Knobs (environment):
 *   BENCH_SCENARIOS         spread,hot,open  which scenarios, in order
 *   BENCH_SECONDS           15       closed-loop duration per scenario (spread, hot)
 *   BENCH_WARMUP_SECONDS    5        the same load first, unmeasured, on the freshly started app (JIT,
 *                                    pools, caches), then ANALYZE; 0 skips both. Its payments count
 *                                    in no figure.
 *   BENCH_CONCURRENCY       64       closed-loop clients (and HTTP connections)
 *   BENCH_RATE              1000     open loop: offered requests per second
 *   BENCH_OPEN_SECONDS      30       open loop: duration
 *   BENCH_OPEN_CONNECTIONS  256      open loop: most HTTP connections (keep-alive) to the app
 *   BENCH_MAX_OUTSTANDING   2000     open loop: requests in flight beyond this are errors, not sent
 *   BENCH_ACCOUNTS          200      funded payer accounts (1,000,000.00 USD each)
 *   BENCH_PAYEES            5        payee (merchant) accounts of spread and open; hot uses 1
 *   BENCH_SETTLE_SECONDS    120      most time to wait after the load for pending payments to post
 *   BENCH_BASELINE          on       `off` skips baseline A (ratios then print as n/a)
 *   BENCH_BASELINE_SECONDS  20       pgbench -T
 *   BENCH_APP_DIR           repo root  where to run the app (bench an older checkout with this harness)
 *   BENCH_START             npm start  the command starting the app (run by a shell in BENCH_APP_DIR)
 *   BENCH_PORT              8099     the app's PORT
 *   BENCH_READY_SECONDS     180      most time for the app to answer GET /ready = 200 (npm start may build)
 *   BENCH_PROFILE           unset    a directory: every node process of the app writes a CPU profile
 *                                    there (`--cpu-prof --cpu-prof-dir=<dir>` in the app's NODE_OPTIONS,
 *                                    or on Node 20, which refuses that, `--import=bench/cpu-profile.mjs`)
 *   BENCH_DATABASE_URL or DATABASE_URL  the Postgres server (its database name is ignored: the bench
 *                                    uses `baseline_a` and `payments_bench`), default
 *                                    postgres://postgres@127.0.0.1:5432
 *   BENCH_REDIS_URL or REDIS_URL  Redis, default redis://127.0.0.1:6379
 * The app gets DATABASE_URL, REDIS_URL, QUEUE_PREFIX (bench-<run>-<scenario>, its keys deleted
 * afterwards), JWT_SECRET, PORT, LOG_LEVEL=warn, NODE_ENV=development and
 * RATE_LIMIT_WRITES_PER_SECOND=0 / RATE_LIMIT_READS_PER_SECOND=0; any other variable of the
 * environment (POSTING_PARTITIONS, DATABASE_POOL_SIZE, ...) passes through to it.
 */
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { loadConfig } from "../shared/config.ts";
import { createSql, type Sql } from "../shared/db/index.ts";
import { verifyLedger } from "../shared/ledger/index.ts";
import { startApp } from "./app.ts";
import { type BaselineResult, runBaselineA } from "./baseline.ts";
import {
  benchServerUrl,
  checkpoint,
  createParties,
  databaseUrl,
  deleteQueueKeys,
  type Parties,
  recreateDatabase,
} from "./fixtures.ts";
import { positive } from "./knobs.ts";
import { closedLoop, createClient, type LoadResult, type NextPayment, openLoop, percentile } from "./load.ts";
import { ProcSampler } from "./procs.ts";
import {
  baselineCpuPerTransfer,
  cpuPerUnit,
  evaluateTargets,
  printScenario,
  printSummary,
  type ScenarioResult,
} from "./report.ts";

const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));
const BENCH_DB = "payments_bench";
const REQUEST_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 20_000;
const SCENARIO_NAMES = ["spread", "hot", "open"] as const;
type ScenarioName = (typeof SCENARIO_NAMES)[number];

function scenarioList(): ScenarioName[] {
  const raw = (process.env.BENCH_SCENARIOS || SCENARIO_NAMES.join(",")).split(",").map((s) => s.trim());
  for (const s of raw) {
    if (!(SCENARIO_NAMES as readonly string[]).includes(s))
      throw new Error(`BENCH_SCENARIOS: unknown scenario "${s}" (known: ${SCENARIO_NAMES.join(", ")})`);
  }
  return raw as ScenarioName[];
}

const knobs = {
  scenarios: scenarioList(),
  seconds: positive("BENCH_SECONDS", 15),
  warmupSeconds: process.env.BENCH_WARMUP_SECONDS === "0" ? 0 : positive("BENCH_WARMUP_SECONDS", 5),
  concurrency: Math.floor(positive("BENCH_CONCURRENCY", 64)),
  rate: positive("BENCH_RATE", 1000),
  openSeconds: positive("BENCH_OPEN_SECONDS", 30),
  openConnections: Math.floor(positive("BENCH_OPEN_CONNECTIONS", 256)),
  maxOutstanding: Math.floor(positive("BENCH_MAX_OUTSTANDING", 2000)),
  accounts: Math.floor(positive("BENCH_ACCOUNTS", 200)),
  payees: Math.floor(positive("BENCH_PAYEES", 5)),
  settleSeconds: positive("BENCH_SETTLE_SECONDS", 120),
  baseline: process.env.BENCH_BASELINE !== "off",
  baselineSeconds: Math.floor(positive("BENCH_BASELINE_SECONDS", 20)),
  appDir: resolve(process.env.BENCH_APP_DIR || REPO_ROOT),
  start: process.env.BENCH_START || "npm start",
  port: Math.floor(positive("BENCH_PORT", 8099)),
  readySeconds: positive("BENCH_READY_SECONDS", 180),
  profile: process.env.BENCH_PROFILE ? resolve(process.env.BENCH_PROFILE) : null,
  server: benchServerUrl(),
  redisUrl: process.env.BENCH_REDIS_URL || process.env.REDIS_URL || "redis://127.0.0.1:6379",
};
const RUN_ID = Date.now().toString(36);

/**
 * BENCH_PROFILE: `--cpu-prof --cpu-prof-dir` in NODE_OPTIONS where Node allows it there; Node 20
 * does not, so there a preloaded module (bench/cpu-profile.mjs) runs the same profiler instead.
 */
function profileEnv(dir: string | null): NodeJS.ProcessEnv {
  const inherited = process.env.NODE_OPTIONS ?? "";
  if (!dir) return {};
  if (process.allowedNodeEnvironmentFlags.has("--cpu-prof"))
    return { NODE_OPTIONS: `${inherited} --cpu-prof --cpu-prof-dir=${dir}`.trim() };
  const preload = pathToFileURL(fileURLToPath(new URL("./cpu-profile.mjs", import.meta.url))).href;
  return { NODE_OPTIONS: `${inherited} --import=${preload}`.trim(), BENCH_CPU_PROF_DIR: dir };
}

/** The app's environment for one scenario. */
function appEnv(queuePrefix: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    DATABASE_URL: databaseUrl(knobs.server, BENCH_DB),
    REDIS_URL: knobs.redisUrl,
    QUEUE_PREFIX: queuePrefix,
    JWT_SECRET: "bench-secret-bench-secret-bench-secret-0123",
    PORT: String(knobs.port),
    LOG_LEVEL: "warn",
    NODE_ENV: "development",
    RATE_LIMIT_WRITES_PER_SECOND: "0",
    RATE_LIMIT_READS_PER_SECOND: "0",
    ...profileEnv(knobs.profile),
  };
}

function paymentSource(parties: Parties, keyPrefix: string): NextPayment {
  const { payers, payees } = parties;
  return (n) => {
    const payer = payers[Math.floor(Math.random() * payers.length)]!;
    return {
      token: payer.token,
      from: payer.account,
      to: payees[Math.floor(Math.random() * payees.length)]!,
      amount: `0.${String((n % 99) + 1).padStart(2, "0")}`,
      idempotencyKey: `${keyPrefix}-${n}`,
    };
  };
}

/** Waits (bounded) until no payment is pending; returns how many still are. */
async function settle(sql: Sql, seconds: number): Promise<number> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const [row] = await sql<
      { n: number }[]
    >`select count(*)::int as n from payments where status = 'pending'`;
    if (row!.n === 0 || Date.now() >= deadline) return row!.n;
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface PostingStats {
  posted: number;
  postedPerS: number;
  p50: number;
  p99: number;
  failed: number;
  failureCodes: Record<string, number>;
  balanced: boolean;
  transactions: number;
}

/** posted/s = posted ÷ (last completed_at − first created_at); accept->posted from the same columns. */
async function postingStats(sql: Sql, since: Date): Promise<PostingStats> {
  const [row] = await sql<
    { posted: number; failed: number; first: Date | null; last: Date | null; p50: string; p99: string }[]
  >`
    select count(*) filter (where completed_at is not null)::int as posted,
           count(*) filter (where status = 'failed')::int as failed,
           min(created_at) as first,
           max(completed_at) as last,
           percentile_disc(0.5) within group (order by extract(epoch from completed_at - created_at) * 1000)
             filter (where completed_at is not null) as p50,
           percentile_disc(0.99) within group (order by extract(epoch from completed_at - created_at) * 1000)
             filter (where completed_at is not null) as p99
      from payments where created_at >= ${since}`;
  const codes = await sql<{ code: string; n: number }[]>`
    select coalesce(failure_code, '?') as code, count(*)::int as n
      from payments where status = 'failed' and created_at >= ${since} group by 1`;
  const [txs] = await sql<{ n: number }[]>`select count(*)::int as n from transactions`;
  const ledger = await verifyLedger(sql);
  const span = row!.first && row!.last ? (row!.last.getTime() - row!.first.getTime()) / 1000 : 0;
  return {
    posted: row!.posted,
    postedPerS: span > 0 ? row!.posted / span : 0,
    p50: row!.p50 === null ? Number.NaN : Number(row!.p50),
    p99: row!.p99 === null ? Number.NaN : Number(row!.p99),
    failed: row!.failed,
    failureCodes: Object.fromEntries(codes.map((c) => [c.code, c.n])),
    balanced:
      ledger.trialBalance.every((t) => t.net === 0n) &&
      ledger.mismatchedAccounts.length === 0 &&
      ledger.heldMismatch.length === 0 &&
      ledger.heldMovementMismatch.length === 0,
    transactions: txs!.n,
  };
}

async function runLoad(
  name: ScenarioName,
  origin: string,
  next: NextPayment,
  seconds = name === "open" ? knobs.openSeconds : knobs.seconds,
): Promise<LoadResult> {
  if (name === "open") {
    const pool = createClient(origin, knobs.openConnections, REQUEST_TIMEOUT_MS);
    try {
      return await openLoop(pool, {
        rate: knobs.rate,
        seconds,
        maxOutstanding: knobs.maxOutstanding,
        timeoutMs: REQUEST_TIMEOUT_MS,
        next,
      });
    } finally {
      await pool.close().catch(() => {});
    }
  }
  const pool = createClient(origin, knobs.concurrency, REQUEST_TIMEOUT_MS);
  try {
    return await closedLoop(pool, { concurrency: knobs.concurrency, seconds, next });
  } finally {
    await pool.close().catch(() => {});
  }
}

type Measured = Omit<ScenarioResult, "stop_forced">;

/** One scenario on a fresh database and a fresh app start; the app is stopped whatever happens. */
async function runScenario(name: ScenarioName, baseline: BaselineResult | null): Promise<ScenarioResult> {
  const prefix = `bench-${RUN_ID}-${name}`;
  const env = appEnv(prefix);
  console.log(`\nbench: ${name}: fresh database ${BENCH_DB}, starting \`${knobs.start}\` in ${knobs.appDir}`);
  await recreateDatabase(knobs.server, BENCH_DB);
  const app = await startApp({
    dir: knobs.appDir,
    command: knobs.start,
    port: knobs.port,
    env,
    readyTimeoutMs: knobs.readySeconds * 1000,
  });
  const sql = createSql(databaseUrl(knobs.server, BENCH_DB), { max: 2, applicationName: "payments-bench" });
  let measured: Measured;
  let stopForced = false;
  try {
    measured = await measure(name, { pgid: app.pgid, sql, env, prefix, baseline });
  } finally {
    await sql.end({ timeout: 5 });
    stopForced = (await app.stop(STOP_GRACE_MS)).forced;
    await deleteQueueKeys(knobs.redisUrl, prefix);
  }
  return { ...measured, stop_forced: stopForced };
}

/** Funds the accounts, runs the load while sampling /proc, settles, reads the results. */
async function measure(
  name: ScenarioName,
  ctx: { pgid: number; sql: Sql; env: NodeJS.ProcessEnv; prefix: string; baseline: BaselineResult | null },
): Promise<Measured> {
  const { sql, baseline } = ctx;
  const payeeCount = name === "hot" ? 1 : knobs.payees;
  const parties = await createParties(sql, loadConfig(ctx.env), {
    payers: knobs.accounts,
    payees: payeeCount,
  });
  const origin = `http://127.0.0.1:${knobs.port}`;
  if (knobs.warmupSeconds > 0) {
    console.log(`bench: ${name}: warming up for ${knobs.warmupSeconds} s (not measured)`);
    await runLoad(name, origin, paymentSource(parties, `${ctx.prefix}-warmup`), knobs.warmupSeconds);
    await settle(sql, knobs.settleSeconds);
    // Table statistics, as a running database has them (autovacuum analyzes within a minute or
    // so; baseline A is analyzed too): without them the app's prepared statements keep the plans
    // made on the empty tables of this fresh database, sequential scans.
    await sql`analyze`;
  }
  await checkpoint(knobs.server);
  // Figures from the database count only what the measured load created.
  const [{ since }] = await sql<[{ since: Date }]>`select clock_timestamp() as since`;
  const next = paymentSource(parties, ctx.prefix);
  console.log(`bench: ${name}: app ready, ${knobs.accounts} payers funded; load running`);

  const sampler = new ProcSampler(ctx.pgid, BENCH_DB);
  sampler.start();
  sampler.beginCpu();
  const benchCpu0 = process.cpuUsage();
  const load = await runLoad(name, origin, next);
  const cpu = sampler.endCpu();
  const benchCpu = process.cpuUsage(benchCpu0);
  cpu.pct.bench = round1(((benchCpu.user + benchCpu.system) / 1e6 / cpu.seconds) * 100);

  const stillPending = await settle(sql, knobs.settleSeconds);
  sampler.stop();
  const posting = await postingStats(sql, since);
  return {
    scenario: name,
    mode: name === "open" ? "open" : "closed",
    payers: knobs.accounts,
    payees: payeeCount,
    concurrency: name === "open" ? null : knobs.concurrency,
    offered_per_s: name === "open" ? knobs.rate : null,
    seconds: name === "open" ? knobs.openSeconds : knobs.seconds,
    accepted: load.accepted,
    accepted_per_s: round1(load.accepted / load.seconds),
    posted: posting.posted,
    posted_per_s: round1(posting.postedPerS),
    ratio_to_a: baseline ? Math.round((posting.postedPerS / baseline.tps) * 1000) / 1000 : null,
    accept_ms_p50: round1(percentile(load.latencies, 50)),
    accept_ms_p99: round1(percentile(load.latencies, 99)),
    accept_to_posted_ms_p50: round1(posting.p50),
    accept_to_posted_ms_p99: round1(posting.p99),
    errors: load.errors,
    error_kinds: load.errorKinds,
    still_pending: stillPending,
    failed: posting.failed,
    failure_codes: posting.failureCodes,
    ledger_balanced: posting.balanced,
    ledger_transactions: posting.transactions,
    peak_rss_mib: round1(sampler.peakRssKiB / 1024),
    peak_rss_mib_by_kind: Object.fromEntries(
      Object.entries(sampler.peakRssByKindKiB).map(([k, kib]) => [k, round1(kib / 1024)]),
    ),
    cpu_pct: cpu.pct,
    cpu_us_per_payment: cpuPerUnit(cpu.pct, posting.postedPerS, Object.keys(cpu.processes)),
    processes: cpu.processes,
    send_lag_ms_p99: load.sendLagP99 === undefined ? null : round1(load.sendLagP99),
  };
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

async function main(): Promise<void> {
  // Exiting on a signal runs the exit hook that kills the app's process group (bench/app.ts).
  process.once("SIGINT", () => process.exit(130));
  process.once("SIGTERM", () => process.exit(143));
  const hidePassword = (url: string) => url.replace(/:[^:@/]*@/, ":***@");
  const shown = { ...knobs, server: hidePassword(knobs.server), redisUrl: hidePassword(knobs.redisUrl) };
  console.log(`bench: run ${RUN_ID} ${JSON.stringify(shown)}`);

  let baseline: BaselineResult | null = null;
  if (knobs.baseline) {
    console.log(`bench: baseline A: pgbench, 16 clients, ${knobs.baselineSeconds} s`);
    baseline = await runBaselineA(knobs.server, knobs.baselineSeconds);
    console.log(
      `bench: baseline A: ${baseline.tps.toFixed(1)} tps (avg latency ${baseline.latencyMsAvg} ms;` +
        ` CPU % of a core: postgres ${baseline.cpu_pct.postgres ?? 0}, pgbench ${baseline.cpu_pct.pgbench ?? 0};` +
        ` ${baselineCpuPerTransfer(baseline)} µs per transfer)`,
    );
  }

  const results: ScenarioResult[] = [];
  for (const name of knobs.scenarios) {
    const result = await runScenario(name, baseline);
    results.push(result);
    printScenario(result, evaluateTargets([result]), baseline);
  }
  const targets = evaluateTargets(results);
  printSummary(baseline, results, targets);
  console.log(
    JSON.stringify({
      bench: "payments",
      run: RUN_ID,
      at: new Date().toISOString(),
      knobs: shown,
      baseline_a: baseline,
      scenarios: results,
      targets,
    }),
  );
}

await main();
