/**
 * npm run bench: starts the whole system (API + workers, as `npm start` does) in a child process
 * against a fresh `payments_bench` database, drives payments over HTTP among many funded accounts
 * at a fixed concurrency for a bounded time, waits for them to post, and prints accepted/s,
 * posted/s, p50/p99 accept latency and accept->posted latency.
 *
 * Knobs (environment): BENCH_SECONDS (15), BENCH_CONCURRENCY (32), BENCH_ACCOUNTS (200),
 * BENCH_SCENARIO ("spread": random payer and payee; "hot": every payment to one merchant),
 * BENCH_EXTRA_WORKERS (0: extra `start:worker` processes), BENCH_PORT (8099).
 */
import { type ChildProcess, spawn } from "node:child_process";
import postgres from "postgres";
import { signAccessToken } from "../shared/auth/tokens.ts";
import { loadConfig } from "../shared/config.ts";
import { createSql, ensureDatabase } from "../shared/db/index.ts";
import { migrate } from "../shared/db/migrate.ts";
import { newId } from "../shared/ids.ts";
import { openAccount, post, systemAccountNumber } from "../shared/ledger/index.ts";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 200);
const SCENARIO = process.env.BENCH_SCENARIO === "hot" ? "hot" : "spread";
const EXTRA_WORKERS = Number(process.env.BENCH_EXTRA_WORKERS ?? 0);
const PORT = Number(process.env.BENCH_PORT ?? 8099);
const DB_URL = process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/payments_bench";

const env: Record<string, string> = {
  DATABASE_URL: DB_URL,
  REDIS_URL: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
  QUEUE_PREFIX: `bench-${Date.now().toString(36)}`,
  JWT_SECRET: "bench-secret-bench-secret-bench-secret-0123",
  PORT: String(PORT),
  LOG_LEVEL: "warn",
  NODE_ENV: "development",
};
const config = loadConfig({ ...process.env, ...env });

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function freshDatabase(): Promise<void> {
  const admin = new URL(DB_URL);
  const name = admin.pathname.slice(1);
  admin.pathname = "/postgres";
  const a = postgres(admin.toString(), { max: 1, onnotice: () => {} });
  await a`drop database if exists ${a(name)} with (force)`;
  await a.end();
  await ensureDatabase(DB_URL);
  const sql = createSql(DB_URL, { max: 1 });
  await migrate(sql);
  await sql.end();
}

function start(script: string): ChildProcess {
  // BENCH_PROFILE=dir writes a CPU profile of each system process there (open it in Chrome DevTools).
  const profile = process.env.BENCH_PROFILE
    ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE}`]
    : [];
  return spawn(process.execPath, [...profile, "--import", "tsx", script], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "inherit", "inherit"],
  });
}

async function waitReady(): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${PORT}/ready`);
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("the system did not become ready");
}

interface Payer {
  token: string;
  account: string;
}

async function main(): Promise<void> {
  console.log(
    `bench: scenario=${SCENARIO} seconds=${SECONDS} concurrency=${CONCURRENCY} accounts=${ACCOUNTS} extra_workers=${EXTRA_WORKERS}`,
  );
  await freshDatabase();
  const sql = createSql(DB_URL, { max: 5 });
  const users: Payer[] = [];
  for (let i = 0; i < ACCOUNTS; i++) {
    const id = newId("usr");
    await sql`insert into users (id, email, password_hash, role) values (${id}, ${`${id}@bench.test`}, 'x', 'customer')`;
    const account = await openAccount(sql, { ownerId: id, currency: "USD" });
    await sql.begin((tx) =>
      post(tx, {
        kind: "deposit",
        reference: `bench-fund:${account.account_number}`,
        legs: [
          { account: systemAccountNumber("external", "USD"), direction: "DEBIT", amount: 100_000_000n },
          { account: account.account_number, direction: "CREDIT", amount: 100_000_000n },
        ],
      }),
    );
    users.push({
      token: await signAccessToken(config, { userId: id, role: "customer" }),
      account: account.account_number,
    });
  }
  const merchantId = newId("usr");
  await sql`insert into users (id, email, password_hash, role) values (${merchantId}, ${`${merchantId}@bench.test`}, 'x', 'merchant')`;
  const merchant = await openAccount(sql, { ownerId: merchantId, currency: "USD" });

  const children = [
    start("main.ts"),
    ...Array.from({ length: EXTRA_WORKERS }, () => start("worker/main.ts")),
  ];
  try {
    await waitReady();
    const acceptLatencies: number[] = [];
    const ids: string[] = [];
    let errors = 0;
    let seq = 0;
    const started = performance.now();
    const deadline = started + SECONDS * 1000;
    const loop = async () => {
      while (performance.now() < deadline) {
        const n = seq++;
        const payer = users[Math.floor(Math.random() * users.length)]!;
        let to = merchant.account_number;
        if (SCENARIO === "spread") {
          do to = users[Math.floor(Math.random() * users.length)]!.account;
          while (to === payer.account);
        }
        const t0 = performance.now();
        const res = await fetch(`http://127.0.0.1:${PORT}/api/v1/payments`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${payer.token}`,
            "content-type": "application/json",
            "idempotency-key": `bench-${n}`,
          },
          body: JSON.stringify({
            from_account: payer.account,
            to_account: to,
            amount: `0.${String((n % 99) + 1).padStart(2, "0")}`,
            currency: "USD",
          }),
        });
        const body = (await res.json()) as { id?: string };
        if (res.status === 202 && body.id) {
          acceptLatencies.push(performance.now() - t0);
          ids.push(body.id);
        } else {
          errors++;
          if (errors <= 3) console.error(`bench: request failed ${res.status} ${JSON.stringify(body)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, loop));
    const acceptSeconds = (performance.now() - started) / 1000;

    // Wait for everything accepted to post (bounded).
    const settleDeadline = Date.now() + 120_000;
    let pending = Number.POSITIVE_INFINITY;
    while (Date.now() < settleDeadline) {
      const [row] = await sql<
        { n: number }[]
      >`select count(*)::int as n from payments where status = 'pending'`;
      pending = row!.n;
      if (pending === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const [timing] = await sql<{ first: Date; last: Date; posted: number }[]>`
      select min(created_at) as first, max(completed_at) as last, count(*)::int as posted
        from payments where completed_at is not null`;
    const lat = await sql<{ ms: number }[]>`
      select extract(epoch from (completed_at - created_at)) * 1000 as ms from payments where completed_at is not null`;
    const settle = lat.map((r) => Number(r.ms)).sort((a, b) => a - b);
    const accept = acceptLatencies.sort((a, b) => a - b);
    const postedSeconds = (timing!.last.getTime() - timing!.first.getTime()) / 1000;
    const [batches] = await sql<{ txs: number }[]>`select count(*)::int as txs from transactions`;
    const [ledger] = await sql<{ bad: number }[]>`
      select count(*)::int as bad from (
        select currency from ledger_entries group by currency
        having sum(case when direction = 'CREDIT' then amount else -amount end) <> 0) x`;
    const result = {
      scenario: SCENARIO,
      concurrency: CONCURRENCY,
      accepted: ids.length,
      errors,
      still_pending: pending,
      accepted_per_s: +(ids.length / acceptSeconds).toFixed(1),
      posted_per_s: +(timing!.posted / postedSeconds).toFixed(1),
      accept_ms_p50: +percentile(accept, 50).toFixed(1),
      accept_ms_p99: +percentile(accept, 99).toFixed(1),
      accept_to_posted_ms_p50: +percentile(settle, 50).toFixed(1),
      accept_to_posted_ms_p99: +percentile(settle, 99).toFixed(1),
      ledger_transactions: batches!.txs,
      ledger_balanced: ledger!.bad === 0,
    };
    console.table(result);
    console.log(JSON.stringify(result));
  } finally {
    for (const c of children) c.kill("SIGTERM");
    await Promise.all(
      children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once("exit", r)))),
    );
    await sql.end();
  }
}

await main();
