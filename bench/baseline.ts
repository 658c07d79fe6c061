/**
 * Baseline A (see baseline-a-schema.sql and baseline-a.pgbench beside this file): one double-entry
 * transfer per database transaction, driven by pgbench with no HTTP, JSON, auth, idempotency,
 * queue or events. What a naive synchronous design reaches at best on this machine; the project's
 * throughput is reported as a ratio to it, measured in the same run.
 *
 * Run exactly as the shared recipe says, with the Postgres client tools:
 *   dropdb --if-exists baseline_a; createdb baseline_a; psql -f baseline-a-schema.sql; CHECKPOINT;
 *   pgbench -n -c 16 -j 2 -T <seconds> -M prepared -f baseline-a.pgbench baseline_a;
 *   dropdb baseline_a; CHECKPOINT (so the scenarios that follow do not pay for its WAL).
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ProcSampler } from "./procs.ts";

const SCHEMA = fileURLToPath(new URL("./baseline-a-schema.sql", import.meta.url));
const SCRIPT = fileURLToPath(new URL("./baseline-a.pgbench", import.meta.url));
const DATABASE = "baseline_a";

export interface BaselineResult {
  /** Transfers per second: pgbench's tps (without initial connection time). */
  tps: number;
  latencyMsAvg: number | null;
  seconds: number;
  clients: number;
  /** % of one core while pgbench ran: postgres (its backends and background processes), pgbench. */
  cpu_pct: Record<string, number>;
}

/** -h/-p/-U for the client tools, and PGPASSWORD if the URL carries one. */
function connection(server: string): { args: string[]; env: NodeJS.ProcessEnv } {
  const url = new URL(server);
  const args = [
    "-h",
    url.hostname || "127.0.0.1",
    "-p",
    url.port || "5432",
    "-U",
    url.username || "postgres",
  ];
  const env = { ...process.env };
  if (url.password) env.PGPASSWORD = decodeURIComponent(url.password);
  return { args, env };
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d;
    });
    child.stderr.on("data", (d: Buffer) => {
      err += d;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(" ")} exited ${code}: ${err.trim() || out.trim()}`));
    });
  });
}

/** pgbench's `tps = N (without initial connection time)`; older versions print two tps lines. */
export function parsePgbench(output: string): { tps: number; latencyMsAvg: number | null } {
  const tpsLines = [...output.matchAll(/^tps = ([\d.]+)(.*)$/gm)];
  const line = tpsLines.find((m) => /without|excluding/.test(m[2] ?? "")) ?? tpsLines[0];
  if (!line) throw new Error(`no "tps = ..." line in pgbench output:\n${output}`);
  const latency = /^latency average = ([\d.]+) ms/m.exec(output);
  return { tps: Number(line[1]), latencyMsAvg: latency ? Number(latency[1]) : null };
}

export async function runBaselineA(server: string, seconds: number): Promise<BaselineResult> {
  const { args, env } = connection(server);
  const clients = 16;
  const checkpoint = () => run("psql", [...args, "-X", "-q", "-d", "postgres", "-c", "CHECKPOINT"], env);
  await run("dropdb", [...args, "--if-exists", DATABASE], env);
  await run("createdb", [...args, DATABASE], env);
  try {
    await run("psql", [...args, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", DATABASE, "-f", SCHEMA], env);
    await checkpoint();
    const flags = ["-n", "-c", String(clients), "-j", "2", "-T", String(seconds), "-M", "prepared"];
    // No process group of its own (-1): the sampler counts only Postgres (this database's backends
    // and the server's own processes) and pgbench, sampled until it exits (its last 250 ms missed).
    const sampler = new ProcSampler(-1, DATABASE);
    sampler.beginCpu();
    sampler.start();
    const output = await run("pgbench", [...args, ...flags, "-f", SCRIPT, DATABASE], env);
    const cpu = sampler.endCpu();
    sampler.stop();
    return { ...parsePgbench(output), seconds, clients, cpu_pct: cpu.pct };
  } finally {
    await run("dropdb", [...args, "--if-exists", DATABASE], env);
    await checkpoint();
  }
}
