/** What the bench prints: a block per scenario, the targets, a summary table. */
import type { BaselineResult } from "./baseline.ts";

export interface ScenarioResult {
  scenario: string;
  mode: "closed" | "open";
  payers: number;
  payees: number;
  concurrency: number | null;
  offered_per_s: number | null;
  seconds: number;
  accepted: number;
  accepted_per_s: number;
  posted: number;
  posted_per_s: number;
  /** posted/s ÷ baseline A tps (null without a baseline). */
  ratio_to_a: number | null;
  accept_ms_p50: number;
  accept_ms_p99: number;
  accept_to_posted_ms_p50: number;
  accept_to_posted_ms_p99: number;
  errors: number;
  error_kinds: Record<string, number>;
  still_pending: number;
  failed: number;
  failure_codes: Record<string, number>;
  ledger_balanced: boolean;
  ledger_transactions: number;
  peak_rss_mib: number;
  /** RSS per process kind at the peak, MiB. */
  peak_rss_mib_by_kind: Record<string, number>;
  /** % of one core over the load phase: app process kinds, postgres, redis, bench. */
  cpu_pct: Record<string, number>;
  /** CPU µs per posted payment, per kind as in cpu_pct, plus `app` (the app's kinds) and `all`. */
  cpu_us_per_payment: Record<string, number>;
  /** App processes seen per kind during the load. */
  processes: Record<string, number>;
  /** Open loop: how late the generator itself sent requests (p99, ms). */
  send_lag_ms_p99: number | null;
  /** The app did not stop within the grace period after SIGTERM and was killed. */
  stop_forced: boolean;
}

export interface Target {
  scenario: string;
  what: string;
  actual: string;
  /** null: cannot tell (no baseline). */
  pass: boolean | null;
}

export const RSS_LIMIT_MIB = 300;

export function evaluateTargets(results: ScenarioResult[]): Target[] {
  const targets: Target[] = [];
  for (const r of results) {
    if (r.scenario === "spread" || r.scenario === "hot") {
      targets.push({
        scenario: r.scenario,
        what: "posted/s >= 1.0 x A",
        actual: r.ratio_to_a === null ? "n/a" : `${r.ratio_to_a.toFixed(2)} x`,
        pass: r.ratio_to_a === null ? null : r.ratio_to_a >= 1.0,
      });
    }
    if (r.scenario === "open") {
      targets.push(
        { scenario: r.scenario, what: "errors = 0", actual: String(r.errors), pass: r.errors === 0 },
        {
          scenario: r.scenario,
          what: "accept p99 <= 25 ms",
          actual: `${fmt(r.accept_ms_p99)} ms`,
          pass: r.accept_ms_p99 <= 25,
        },
        {
          scenario: r.scenario,
          what: "accept->posted p99 <= 250 ms",
          actual: `${fmt(r.accept_to_posted_ms_p99)} ms`,
          pass: r.accept_to_posted_ms_p99 <= 250,
        },
      );
    }
    targets.push({
      scenario: r.scenario,
      what: `peak RSS <= ${RSS_LIMIT_MIB} MiB`,
      actual: `${fmt(r.peak_rss_mib)} MiB`,
      pass: r.peak_rss_mib <= RSS_LIMIT_MIB,
    });
  }
  return targets;
}

/**
 * CPU per unit of work, in µs: each kind's share of a core (`pct`, % of one core) divided by the
 * work done per second, plus `app` (the kinds in `appKinds`) and `all` (every kind). The closed
 * loops keep the machine busy, so this, unlike throughput, compares runs of different speeds.
 */
export function cpuPerUnit(
  pct: Record<string, number>,
  perSecond: number,
  appKinds: string[] = [],
): Record<string, number> {
  if (!(perSecond > 0)) return {};
  const us = (p: number) => Math.round((p / 100) * (1e6 / perSecond));
  const out: Record<string, number> = {};
  let app = 0;
  let all = 0;
  for (const [kind, p] of Object.entries(pct)) {
    out[kind] = us(p);
    all += p;
    if (appKinds.includes(kind)) app += p;
  }
  if (appKinds.length > 0) out.app = us(app);
  out.all = us(all);
  return out;
}

/** Baseline A's CPU per transfer (Postgres and pgbench), µs; null when it was not sampled. */
export function baselineCpuPerTransfer(baseline: BaselineResult | null): number | null {
  if (!baseline?.cpu_pct) return null;
  const { postgres = 0, pgbench = 0 } = baseline.cpu_pct; // not Redis, idle meanwhile
  return cpuPerUnit({ postgres, pgbench }, baseline.tps).all ?? null;
}

export function mark(pass: boolean | null): string {
  return pass === null ? "n/a" : pass ? "PASS" : "FAIL";
}

function fmt(n: number | null | undefined, digits = 1): string {
  return n === null || n === undefined || Number.isNaN(n) ? "n/a" : n.toFixed(digits);
}

function cpuLine(cpu: Record<string, number>, processes: Record<string, number>): string {
  const order = ["npm", "sh", "tsx", "primary", "api", "worker", "node"];
  const app = Object.keys(processes).sort((a, b) => rank(order, a) - rank(order, b));
  const parts = app.map((k) => `${k}${processes[k]! > 1 ? `(${processes[k]})` : ""} ${fmt(cpu[k])}`);
  const appTotal = app.reduce((s, k) => s + (cpu[k] ?? 0), 0);
  return (
    `${parts.join("  ")}  (app ${fmt(appTotal)})  |  postgres ${fmt(cpu.postgres ?? 0)}` +
    `  redis ${fmt(cpu.redis ?? 0)}  bench ${fmt(cpu.bench)}`
  );
}

function rank(order: string[], k: string): number {
  const i = order.indexOf(k);
  return i === -1 ? order.length : i;
}

function kinds(counts: Record<string, number>, limit = 4): string {
  const entries = Object.entries(counts).sort((a, b) => b[1] - a[1]);
  const shown = entries.slice(0, limit).map(([k, n]) => `${n}x ${k}`);
  if (entries.length > limit) shown.push(`+${entries.length - limit} more kinds`);
  return shown.length ? ` (${shown.join(", ")})` : "";
}

function cpuPerPaymentLine(r: ScenarioResult, baselineUs: number | null): string {
  const c = r.cpu_us_per_payment;
  const app = Object.keys(r.processes)
    .filter((k) => (c[k] ?? 0) > 0)
    .map((k) => `${k} ${c[k]}`);
  const server = ["postgres", "redis", "bench"].map((k) => `${k} ${c[k] ?? 0}`);
  const a = baselineUs === null ? "" : `; baseline A ${baselineUs} µs per transfer`;
  return `app ${c.app ?? 0} µs (${app.join(", ")})  ${server.join("  ")}  = ${c.all ?? 0} µs${a}`;
}

export function printScenario(
  r: ScenarioResult,
  targets: Target[],
  baseline: BaselineResult | null = null,
): void {
  const t = (what: string) => {
    const target = targets.find((x) => x.scenario === r.scenario && x.what.startsWith(what));
    return target ? `  [${mark(target.pass)}: ${target.what}]` : "";
  };
  const load =
    r.mode === "closed"
      ? `closed loop, ${r.concurrency} clients`
      : `open loop, ${r.offered_per_s}/s offered (send lag p99 ${fmt(r.send_lag_ms_p99)} ms)`;
  console.log(`\n== ${r.scenario}: ${load}, ${r.seconds} s, ${r.payers} payers -> ${r.payees} payee(s)`);
  console.log(`  accepted/s        ${fmt(r.accepted_per_s)}  (${r.accepted} accepted)`);
  console.log(`  posted/s          ${fmt(r.posted_per_s)}  (${r.posted} posted)`);
  console.log(
    `  ratio to A        ${r.ratio_to_a === null ? "n/a" : `${fmt(r.ratio_to_a, 2)} x`}${t("posted/s")}`,
  );
  console.log(`  accept p50/p99    ${fmt(r.accept_ms_p50)} / ${fmt(r.accept_ms_p99)} ms${t("accept p99")}`);
  console.log(
    `  accept->posted    ${fmt(r.accept_to_posted_ms_p50)} / ${fmt(r.accept_to_posted_ms_p99)} ms (p50/p99)` +
      t("accept->posted"),
  );
  console.log(`  errors            ${r.errors}${kinds(r.error_kinds)}${t("errors")}`);
  console.log(
    `  still pending     ${r.still_pending} after settle;  failed ${r.failed}${kinds(r.failure_codes)}`,
  );
  console.log(
    `  ledger balanced   ${r.ledger_balanced ? "yes" : "NO"}  (${r.ledger_transactions} transactions)`,
  );
  const rssParts = Object.entries(r.peak_rss_mib_by_kind).map(([k, v]) => `${k} ${fmt(v)}`);
  console.log(
    `  peak RSS          ${fmt(r.peak_rss_mib)} MiB (app process group: ${rssParts.join(", ")})${t("peak RSS")}`,
  );
  console.log(`  CPU % of a core   ${cpuLine(r.cpu_pct, r.processes)}`);
  console.log(`  CPU per payment   ${cpuPerPaymentLine(r, baselineCpuPerTransfer(baseline))}`);
  if (r.stop_forced) console.log("  note: the app did not exit within 20 s of SIGTERM and was killed");
}

export function printSummary(
  baseline: BaselineResult | null,
  results: ScenarioResult[],
  targets: Target[],
): void {
  const head = [
    "scenario",
    "accepted/s",
    "posted/s",
    "x A",
    "acc p50",
    "acc p99",
    "a->p p50",
    "a->p p99",
    "errors",
    "pending",
    "RSS MiB",
    "app CPU%",
    "pg CPU%",
    "bench CPU%",
    "CPU µs/pay",
  ];
  const appCpu = (r: ScenarioResult) => Object.keys(r.processes).reduce((s, k) => s + (r.cpu_pct[k] ?? 0), 0);
  const rows = results.map((r) => [
    r.scenario,
    fmt(r.accepted_per_s),
    fmt(r.posted_per_s),
    fmt(r.ratio_to_a, 2),
    fmt(r.accept_ms_p50),
    fmt(r.accept_ms_p99),
    fmt(r.accept_to_posted_ms_p50),
    fmt(r.accept_to_posted_ms_p99),
    String(r.errors),
    String(r.still_pending),
    fmt(r.peak_rss_mib),
    fmt(appCpu(r)),
    fmt(r.cpu_pct.postgres ?? 0),
    fmt(r.cpu_pct.bench),
    String(r.cpu_us_per_payment.all ?? "n/a"),
  ]);
  rows.push([
    "baseline A",
    "",
    baseline ? `${fmt(baseline.tps)} tps` : "off",
    baseline ? "1.00" : "",
    ...Array<string>(head.length - 5).fill(""),
    String(baselineCpuPerTransfer(baseline) ?? ""),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  console.log("\n== summary");
  console.log(line(head));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of rows) console.log(line(r));
  console.log("\n== targets (reported only; the exit status does not depend on them)");
  for (const t of targets)
    console.log(`  ${mark(t.pass).padEnd(4)}  ${t.scenario.padEnd(7)} ${t.what.padEnd(30)} ${t.actual}`);
}
