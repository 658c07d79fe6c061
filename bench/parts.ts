/**
 * npm run bench:parts: a payment's two halves measured alone, in this process, without HTTP, the
 * load generator or the other half running: where `npm run bench` shows what the whole system
 * costs, this shows what each part costs, with less of the machine's noise in it.
 *
 * On a fresh `payments_bench_parts` database with funded payers and merchant payees (as in
 * `npm run bench`), through the app's own services (Postgres pool, Redis, queues), no workers:
 *
 * 1. Acceptance: for each number of concurrent callers in BENCH_PARTS_CALLERS, closed loops call
 *    `createPayment` (the domain call behind POST /api/v1/payments: validation, the idempotency
 *    key, group commit, the posting nudge) with fresh keys for BENCH_PARTS_SECONDS. The payments
 *    stay pending: nothing posts them. Before the first, the same for 2 s unmeasured, then ANALYZE
 *    and CHECKPOINT (before posting too).
 * 2. Posting: every partition is drained (`drainPartition`, as the posting worker does) until all
 *    those payments are posted; then the ledger is verified.
 *
 * For each: payments per second, payments per writing database transaction (acceptance groups,
 * posting batches: transaction ids used, server-wide), and CPU per payment of this Node process
 * (`process.cpuUsage`, all its threads) and of Postgres (its processes in /proc, backends of this
 * database only). Afterwards the database and the run's Redis keys are removed.
 *
 * Knobs (environment): BENCH_PARTS_CALLERS (64,16,1), BENCH_PARTS_SECONDS (6), BENCH_ACCOUNTS
 * (200), BENCH_PAYEES (5), BENCH_DATABASE_URL or DATABASE_URL (the server), BENCH_REDIS_URL or
 * REDIS_URL; POSTING_BATCH_SIZE, POSTING_PARTITIONS, ACCEPT_GROUP_* and the like pass through to
 * the app's configuration.
 */
import { boot, shutdownServices } from "../shared/bootstrap.ts";
import { loadConfig } from "../shared/config.ts";
import type { Ctx, Services } from "../shared/context.ts";
import { verifyLedger } from "../shared/ledger/index.ts";
import { ledgerReport } from "../shared/ledger/verify-report.ts";
import { createPayment } from "../shared/payments/accept.ts";
import { drainPartition } from "../shared/payments/posting.ts";
import {
  benchServerUrl,
  checkpoint,
  createParties,
  databaseUrl,
  deleteQueueKeys,
  dropDatabase,
  type Parties,
  recreateDatabase,
} from "./fixtures.ts";
import { positive } from "./knobs.ts";
import { ProcSampler } from "./procs.ts";

const DATABASE = "payments_bench_parts";
const WARMUP_SECONDS = 2;

const knobs = {
  callers: (process.env.BENCH_PARTS_CALLERS || "64,16,1").split(",").map((s, i) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n <= 0) throw new Error(`BENCH_PARTS_CALLERS[${i}]: "${s}" is not a count`);
    return n;
  }),
  seconds: positive("BENCH_PARTS_SECONDS", 6),
  accounts: Math.floor(positive("BENCH_ACCOUNTS", 200)),
  payees: Math.floor(positive("BENCH_PAYEES", 5)),
  server: benchServerUrl(),
  redisUrl: process.env.BENCH_REDIS_URL || process.env.REDIS_URL || "redis://127.0.0.1:6379",
};
const queuePrefix = `bench-parts-${Date.now().toString(36)}`;
/** Payments asked for so far: each gets a key of its own (a key used again would be a replay). */
let sent = 0;

interface Measured {
  part: string;
  payments: number;
  perSecond: number;
  perTransaction: number;
  nodeUs: number;
  postgresUs: number;
}

/** Runs `work` and measures it: it returns how many payments it handled. */
async function measure(services: Services, part: string, work: () => Promise<number>): Promise<Measured> {
  // Transactions that wrote, server-wide (the next transaction id; reading it assigns none).
  const nextXid = async () => {
    const [row] = await services.sql<{ n: string }[]>`
      select pg_snapshot_xmax(pg_current_snapshot())::text as n`;
    return Number(row!.n);
  };
  // No process group of ours to watch: only the server's processes count (postgres, per database).
  const sampler = new ProcSampler(-1, DATABASE);
  const xidBefore = await nextXid();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  sampler.beginCpu();
  const payments = await work();
  const pgPct = sampler.endCpu().pct.postgres ?? 0;
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const transactions = Math.max(1, (await nextXid()) - xidBefore);
  const per = (us: number) => Math.round(us / Math.max(1, payments));
  return {
    part,
    payments,
    perSecond: Math.round(payments / seconds),
    perTransaction: Math.round((payments / transactions) * 10) / 10,
    nodeUs: per(cpu.user + cpu.system),
    postgresUs: per((pgPct / 100) * seconds * 1e6),
  };
}

/** Closed loops of createPayment for `seconds`; resolves to the payments accepted. */
async function acceptFor(
  services: Services,
  parties: Parties,
  owners: Map<string, string>,
  callers: number,
  seconds: number,
): Promise<number> {
  let accepted = 0;
  const deadline = performance.now() + seconds * 1000;
  const loop = async () => {
    while (performance.now() < deadline) {
      const n = sent++;
      const payer = parties.payers[n % parties.payers.length]!;
      const body = {
        from_account: payer.account,
        to_account: parties.payees[n % parties.payees.length]!,
        amount: `0.${String((n % 99) + 1).padStart(2, "0")}`,
        currency: "USD",
      };
      const ctx: Ctx = {
        ...services,
        principal: { userId: owners.get(payer.account)!, role: "customer", apiKeyId: null },
      };
      const key = `${queuePrefix}-${n}`;
      const result = await createPayment(ctx, body, { key, method: "POST", path: "/api/v1/payments", body });
      // A replay would count a payment that was not made: every key here is new.
      if (result.status !== 202 || result.replayed) {
        throw new Error(`payment ${n} was answered ${result.status}${result.replayed ? " (a replay)" : ""}`);
      }
      accepted++;
    }
  };
  await Promise.all(Array.from({ length: callers }, loop));
  return accepted;
}

/** Fresh statistics, and no earlier part's WAL left for a checkpoint during the next one. */
async function settle(services: Services): Promise<void> {
  await services.sql`analyze`;
  await checkpoint(knobs.server);
}

async function drainAll(services: Services): Promise<number> {
  let posted = 0;
  for (let partition = 0; partition < services.config.POSTING_PARTITIONS; partition++) {
    for (;;) {
      const n = await drainPartition(services, partition);
      posted += n;
      if (n === 0) break;
    }
  }
  return posted;
}

function print(rows: Measured[]): void {
  const header = ["part", "payments", "per s", "per transaction", "Node µs/payment", "Postgres µs/payment"];
  const cells = rows.map((r) => [
    r.part,
    String(r.payments),
    String(r.perSecond),
    String(r.perTransaction),
    String(r.nodeUs),
    String(r.postgresUs),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) =>
    c.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join("  ");
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const c of cells) console.log(line(c));
}

async function main(): Promise<void> {
  console.log(`bench:parts: ${JSON.stringify(knobs)}`);
  await recreateDatabase(knobs.server, DATABASE);
  const config = loadConfig({
    ...process.env,
    DATABASE_URL: databaseUrl(knobs.server, DATABASE),
    REDIS_URL: knobs.redisUrl,
    QUEUE_PREFIX: queuePrefix,
    JWT_SECRET: "bench-secret-bench-secret-bench-secret-0123",
    LOG_LEVEL: "warn",
  });
  const services = await boot(config, "bench-parts");
  const rows: Measured[] = [];
  try {
    const parties = await createParties(services.sql, config, {
      payers: knobs.accounts,
      payees: knobs.payees,
    });
    const owned = await services.sql<{ account_number: string; owner_id: string }[]>`
      select account_number, owner_id from accounts
       where account_number = any(${parties.payers.map((p) => p.account)}::text[])`;
    const owners = new Map(owned.map((r) => [r.account_number, r.owner_id]));
    // Unmeasured first (JIT, pools), then ANALYZE, as `npm run bench` does: prepared statements
    // planned on the empty tables of a fresh database would otherwise keep sequential scans.
    await acceptFor(services, parties, owners, Math.max(...knobs.callers), WARMUP_SECONDS);
    await settle(services);
    for (const callers of knobs.callers) {
      rows.push(
        await measure(services, `accept, ${callers} callers`, () =>
          acceptFor(services, parties, owners, callers, knobs.seconds),
        ),
      );
    }
    await settle(services);
    const batch = `post, batches of ${config.POSTING_BATCH_SIZE}`;
    rows.push(await measure(services, batch, () => drainAll(services)));
    const report = ledgerReport(await verifyLedger(services.sql));
    if (!report.ok) throw new Error(`the ledger does not verify: ${JSON.stringify(report)}`);
  } finally {
    await shutdownServices(services);
    await deleteQueueKeys(knobs.redisUrl, queuePrefix);
    await dropDatabase(knobs.server, DATABASE);
  }
  print(rows);
  console.log(JSON.stringify({ bench: "parts", at: new Date().toISOString(), knobs, parts: rows }));
}

await main();
