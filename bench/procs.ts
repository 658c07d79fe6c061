/**
 * Resource sampling from /proc (Linux): the app's process group (every pid whose `pgrp` is the
 * group the bench spawned), the Postgres server and Redis, every 250 ms.
 *
 * - Memory: the sum of VmRSS over the group's processes at each sample; the peak is reported,
 *   with its make-up per process kind.
 * - CPU: utime + stime deltas (clock ticks) between `beginCpu()` and `endCpu()`, per process
 *   kind, as a percentage of one core. A process that starts during the window counts from zero;
 *   one that exits counts up to its last sample.
 *
 * Process kinds in the group: `primary`, `api`, `worker` from a `payments-<kind>` process title
 * (`process.title`, visible in /proc/<pid>/cmdline; /proc/<pid>/comm keeps only 15 characters), `npm`
 * (npm-cli, or a title starting with npm), `sh` (a shell), `tsx` (tsx's launcher, which spawns the
 * real node process), `node` (any other node process, e.g. the single `tsx main.ts` process), else
 * the command name (e.g. `esbuild`). Outside the group: `postgres` (server processes, counting
 * client backends only when they are connected to the bench's database, so other users of the
 * same server do not count) and `redis`.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { basename } from "node:path";

export const SAMPLE_INTERVAL_MS = 250;

/** Clock ticks per second of utime/stime (`getconf CLK_TCK`, 100 nearly everywhere). */
export const CLK_TCK = clockTicks();

function clockTicks(): number {
  try {
    const n = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    if (Number.isFinite(n) && n > 0) return n;
  } catch {
    // getconf missing: use the Linux default
  }
  return 100;
}

interface ProcStat {
  pid: number;
  /** pid + start time: a pid that is reused is another process. */
  key: string;
  comm: string;
  state: string;
  pgrp: number;
  /** utime + stime, clock ticks. */
  ticks: number;
}

function readStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null; // exited meanwhile
  }
  // comm is in parentheses and may itself hold spaces or parentheses: split after the last ")".
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  const f = text.slice(close + 2).split(" ");
  // f[0] is field 3 (state), so field n of proc(5) is f[n - 3].
  return {
    pid,
    key: `${pid}:${f[19]}`,
    comm: text.slice(open + 1, close),
    state: f[0] ?? "?",
    pgrp: Number(f[2]),
    ticks: Number(f[11]) + Number(f[12]),
  };
}

function readCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0+$/, "").replaceAll("\0", " ");
  } catch {
    return "";
  }
}

function readRssKiB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function allStats(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of readdirSync("/proc")) {
    if (name.charCodeAt(0) < 48 || name.charCodeAt(0) > 57) continue;
    const stat = readStat(Number(name));
    if (stat && stat.state !== "Z") out.push(stat);
  }
  return out;
}

/** Live (non-zombie) pids of a process group. */
export function groupPids(pgid: number): number[] {
  return allStats()
    .filter((s) => s.pgrp === pgid)
    .map((s) => s.pid);
}

const APP_KINDS = ["primary", "api", "worker"] as const;

/** The kind of a process of the app's group, from its command line and command name. */
export function appKind(cmdline: string, comm: string): string {
  const title = /\bpayments-(primary|api|worker)\b/.exec(cmdline);
  if (title) return title[1]!;
  // comm is cut at 15 characters ("payments-primar").
  if (comm.startsWith("payments-")) {
    const kind = APP_KINDS.find((k) => `payments-${k}`.startsWith(comm));
    if (kind) return kind;
  }
  const argv0 = cmdline.split(" ")[0] ?? "";
  if (cmdline.includes("npm-cli") || /^npm\b/.test(basename(argv0))) return "npm";
  if (["sh", "bash", "dash", "zsh"].includes(comm)) return "sh";
  if (/[/\\]tsx[/\\]dist[/\\]cli\.|[/\\]\.bin[/\\]tsx\b/.test(cmdline)) return "tsx";
  if (comm.startsWith("node")) return "node";
  return comm;
}

/** Kind of a process outside the group that we account for, or null to ignore it. */
function serverKind(stat: ProcStat, database: string): string | null {
  if (stat.comm.startsWith("redis-server")) return "redis";
  if (stat.comm === "pgbench") return "pgbench";
  if (!stat.comm.startsWith("postgres")) return null;
  // A client backend's title: "postgres: [cluster: ]user database host(port) state".
  const title = readCmdline(stat.pid).replace(/^postgres: (?:[^ ]+: )?/, "");
  const backend = /^\S+ (\S+) (?:\S+\(\d+\)|\[local\])/.exec(title);
  if (backend && backend[1] !== database) return null;
  return "postgres";
}

export interface CpuReport {
  seconds: number;
  /** % of one core per kind (app kinds, postgres, redis, pgbench). */
  pct: Record<string, number>;
  /** Processes seen per app kind during the window. */
  processes: Record<string, number>;
}

interface Tracked {
  kind: string;
  inGroup: boolean;
  first: number;
  last: number;
}

export class ProcSampler {
  peakRssKiB = 0;
  /** The peak's make-up: RSS per process kind in the sample where the total peaked. */
  peakRssByKindKiB: Record<string, number> = {};
  private timer: NodeJS.Timeout | null = null;
  private cpu: Map<string, Tracked> | null = null;
  private cpuStart = 0;

  constructor(
    private readonly pgid: number,
    private readonly database: string,
  ) {}

  /** Starts the 250 ms sampling (memory), until stop(). */
  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), SAMPLE_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.sample();
  }

  beginCpu(): void {
    this.cpu = new Map();
    this.cpuStart = performance.now();
    this.sample(true);
  }

  endCpu(): CpuReport {
    this.sample();
    const seconds = (performance.now() - this.cpuStart) / 1000;
    const pct: Record<string, number> = {};
    const processes: Record<string, number> = {};
    for (const t of this.cpu?.values() ?? []) {
      pct[t.kind] = (pct[t.kind] ?? 0) + ((t.last - t.first) / CLK_TCK / seconds) * 100;
      if (t.inGroup) processes[t.kind] = (processes[t.kind] ?? 0) + 1;
    }
    this.cpu = null;
    for (const k of Object.keys(pct)) pct[k] = round1(pct[k]!);
    return { seconds, pct, processes };
  }

  private sample(starting = false): void {
    let rss = 0;
    const rssByKind: Record<string, number> = {};
    for (const stat of allStats()) {
      const inGroup = stat.pgrp === this.pgid;
      const kind = inGroup ? appKind(readCmdline(stat.pid), stat.comm) : null;
      if (inGroup) {
        const kib = readRssKiB(stat.pid);
        rss += kib;
        rssByKind[kind!] = (rssByKind[kind!] ?? 0) + kib;
      }
      if (!this.cpu) continue;
      const cpuKind = kind ?? serverKind(stat, this.database);
      if (!cpuKind) continue;
      const t = this.cpu.get(stat.key);
      if (t) {
        t.last = stat.ticks;
        t.kind = cpuKind; // a forked process may set its title after we first saw it
      } else {
        // Present at the start: count from now; born during the window: count from zero.
        this.cpu.set(stat.key, {
          kind: cpuKind,
          inGroup,
          first: starting ? stat.ticks : 0,
          last: stat.ticks,
        });
      }
    }
    if (rss > this.peakRssKiB) {
      this.peakRssKiB = rss;
      this.peakRssByKindKiB = rssByKind;
    }
  }
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}
