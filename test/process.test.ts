import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exited, isolatedEnv } from "./support/isolated.ts";
import { waitFor } from "./support/wait.ts";

/**
 * The entry points as they run in production: compiled by `npm run build` and started with plain
 * node. This file builds its own copy (in dist/ under a name of its own, so concurrent runs never
 * read each other's half-written files) and removes it afterwards.
 */
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const OUT = join(ROOT, "dist", `test-${process.pid}-${Date.now().toString(36)}`);

beforeAll(() => {
  const build = spawnSync("npm", ["run", "build", "--", "--outDir", OUT], { cwd: ROOT, encoding: "utf8" });
  expect(build.stdout + build.stderr).not.toMatch(/error TS/);
  expect(build.status).toBe(0);
}, 120_000);
/** Every process a test started; whatever a failed test left running is killed after the file. */
const spawned = new Set<ChildProcess>();
afterAll(() => {
  for (const child of spawned)
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  rmSync(OUT, { recursive: true, force: true });
});

interface LogEntry {
  msg?: string;
  pid?: number;
  process?: string;
  port?: number;
  role?: string;
  slot?: number;
  child_pid?: number;
  code?: number | null;
  signal?: string | null;
}

/** A compiled entry point running as a real process, its JSON log lines collected as they come. */
class Running {
  readonly logs: LogEntry[] = [];
  private readonly waiting = new Set<() => void>();

  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      try {
        this.logs.push(JSON.parse(line) as LogEntry);
      } catch {
        return; // not a log line
      }
      for (const wake of this.waiting) wake();
    });
    spawned.add(child);
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** The log lines matching `match`, once there are at least `count` of them. */
  waitForLogs(match: (e: LogEntry) => boolean, count = 1, what = "a log line"): Promise<LogEntry[]> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.logs.filter(match);
        if (found.length < count) return;
        clearTimeout(timer);
        this.waiting.delete(check);
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.waiting.delete(check);
        reject(
          new Error(`no ${count} x ${what} within 30 s; got: ${JSON.stringify(this.logs.map((e) => e.msg))}`),
        );
      }, 30_000);
      this.waiting.add(check);
      check();
    });
  }
}

function start(script: string, env: Record<string, string>): Running {
  const child = spawn(process.execPath, [join(OUT, script)], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Running(child);
}

/** Alive and not a zombie; what its title says (`ps` shows the same). */
function processInfo(pid: number): { alive: boolean; title: string; ppid: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const title = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0]!.trim();
    return { alive: state !== "Z", title, ppid: Number(ppid) };
  } catch {
    return { alive: false, title: "", ppid: 0 };
  }
}

/** GET on a connection of its own (no keep-alive): the cluster hands each connection to the next API process. */
function getOnNewConnection(url: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}

async function api(base: string, method: string, path: string, token: string | null, body?: unknown) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  if (method === "POST" && path !== "/auth/login" && path !== "/auth/register")
    headers["idempotency-key"] = `process-test-${Math.random()}`;
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function settledPayment(base: string, token: string, id: string) {
  return waitFor(
    async () => {
      const res = await api(base, "GET", `/payments/${id}`, token);
      return res.body.status === "pending" ? null : res.body;
    },
    { timeoutMs: 20_000, intervalMs: 100, what: `payment ${id} to be posted` },
  );
}

// Two worker processes: the primary runs the first, a child the second.
const SUPERVISED = { API_PROCESSES: "2", WORKER_PROCESSES: "2", PORT: "0" };

describe("npm start (the supervisor, compiled)", () => {
  it("prepares the database once, runs the workers itself, 2 API processes on one port and 1 more worker process, posts a payment end to end, and stops them all on SIGTERM", async () => {
    const env = await isolatedEnv("process");
    const system = start("main.js", {
      ...env,
      // A database that does not exist yet: the supervisor creates and migrates it.
      DATABASE_URL: `${env.DATABASE_URL}_fresh`,
      ...SUPERVISED,
      // Unset: the supervisor hands its own random secret to every child, so tokens work on all.
      JWT_SECRET: "",
      ADMIN_EMAIL: "root@example.test",
      ADMIN_PASSWORD: "correct horse battery",
    });
    try {
      const listening = await system.waitForLogs((e) => e.msg === "api listening", 2, "'api listening'");
      const workersStarted = await system.waitForLogs(
        (e) => e.msg === "workers started",
        2,
        "'workers started'",
      );
      // The primary runs workers itself; the second worker process is a child.
      expect(workersStarted.filter((e) => e.pid === system.pid)).toHaveLength(1);
      // Both API processes share one port, even the random one PORT=0 picks.
      const port = listening[0]!.port!;
      expect(port).toBeGreaterThan(0);
      expect(listening[1]!.port).toBe(port);
      expect(new Set(listening.map((e) => e.pid)).size).toBe(2);

      // The primary migrated (once) and made the admin; the children did neither.
      const primaryLogs = system.logs.filter((e) => e.pid === system.pid);
      expect(primaryLogs.filter((e) => e.msg === "migrations applied")).toHaveLength(1);
      expect(system.logs.filter((e) => e.msg === "migrations applied")).toHaveLength(1);
      expect(system.logs.filter((e) => e.msg === "admin user created")).toHaveLength(1);
      expect(primaryLogs.some((e) => e.msg === "admin user created")).toBe(true);

      // Three children of the primary, titled by role; the primary titled too.
      const started = system.logs.filter((e) => e.msg === "child started");
      expect(started.map((e) => e.role).sort()).toEqual(["api", "api", "worker"]);
      const children = started.map((e) => e.child_pid!);
      expect(processInfo(system.pid)).toMatchObject({ alive: true, title: "payments-primary" });
      for (const e of started) {
        expect(processInfo(e.child_pid!)).toEqual({
          alive: true,
          title: `payments-${e.role}`,
          ppid: system.pid,
        });
      }
      // Every child's log lines carry its pid and its role.
      expect(new Set(listening.map((e) => e.pid))).toEqual(
        new Set(started.filter((e) => e.role === "api").map((e) => e.child_pid)),
      );
      expect(listening.every((e) => e.process === "api")).toBe(true);

      const base = `http://127.0.0.1:${port}`;
      expect((await fetch(`${base}/health`)).status).toBe(200);
      expect((await fetch(`${base}/ready`)).status).toBe(200);
      // The docs page and its assets (swagger-ui-dist, found from dist/ too).
      const docs = await fetch(`${base}/docs`);
      expect(docs.headers.get("content-type")).toMatch(/html/);
      const asset = (await docs.text()).match(/src="([^"]+\.js)"/)?.[1];
      expect(asset).toBeTruthy();
      expect((await fetch(new URL(asset!, base))).status).toBe(200);

      const admin = await api(base, "POST", "/auth/login", null, {
        email: "root@example.test",
        password: "correct horse battery",
      });
      expect(admin.status).toBe(200);
      const adminToken = admin.body.access_token as string;
      // A token issued by one API process is accepted by the other: connections alternate.
      const statuses = await Promise.all(
        Array.from({ length: 6 }, () => getOnNewConnection(`${base}/api/v1/auth/me`, adminToken)),
      );
      expect(statuses).toEqual([200, 200, 200, 200, 200, 200]);

      // A payment end to end: accepted by an API process, posted by the worker process.
      const password = "a long enough password";
      const alice = await api(base, "POST", "/auth/register", null, {
        email: `alice-${process.pid}@example.test`,
        password,
      });
      const bob = await api(base, "POST", "/auth/register", null, {
        email: `bob-${process.pid}@example.test`,
        password,
      });
      expect([alice.status, bob.status]).toEqual([201, 201]);
      const deposit = await api(base, "POST", "/deposits", adminToken, {
        account_number: alice.body.account.account_number,
        amount: "100.00",
        currency: "USD",
      });
      expect(deposit.status).toBe(202);
      expect((await settledPayment(base, adminToken, deposit.body.id)).status).toBe("succeeded");
      const aliceToken = (
        await api(base, "POST", "/auth/login", null, { email: alice.body.user.email, password })
      ).body.access_token as string;
      const payment = await api(base, "POST", "/payments", aliceToken, {
        from_account: alice.body.account.account_number,
        to_account: bob.body.account.account_number,
        amount: "12.34",
        currency: "USD",
      });
      expect(payment.status).toBe(202);
      expect(payment.body.status).toBe("pending");
      expect((await settledPayment(base, aliceToken, payment.body.id)).status).toBe("succeeded");
      const balance = await api(
        base,
        "GET",
        `/accounts/${alice.body.account.account_number}/balance`,
        aliceToken,
      );
      expect(balance.body.available_balance).toBe("87.66");
      const verify = await api(base, "GET", "/ops/ledger/verify", adminToken);
      expect(verify.body.ok).toBe(true);

      // One /metrics for the whole group, whichever API process answers: acceptances counted in
      // the API processes, postings in the worker processes (the primary or its worker child).
      const scrapes = await Promise.all(
        Array.from({ length: 4 }, async () => {
          const text = await (await fetch(`${base}/metrics`, { headers: { connection: "close" } })).text();
          const value = (name: string) =>
            text
              .split("\n")
              .filter((l) => l.startsWith(name))
              .reduce((sum, l) => sum + Number(l.split(" ").at(-1)), 0);
          return [value("payments_accepted_total"), value('payments_completed_total{status="succeeded"}')];
        }),
      );
      expect(scrapes).toEqual(Array(4).fill([2, 2]));

      system.child.kill("SIGTERM");
      expect(await exited(system.child)).toBe(0);
      // Every child shut itself down cleanly (exit 0), and none is left.
      const stopped = system.logs.filter((e) => e.msg === "child stopped");
      expect(stopped.map((e) => [e.child_pid, e.code]).sort()).toEqual(
        children.map((pid) => [pid, 0]).sort(),
      );
      expect(
        system.logs
          .filter((e) => e.msg === "stopped")
          .map((e) => e.pid)
          .sort(),
      ).toEqual([...children, system.pid].sort());
      for (const pid of children) expect(processInfo(pid).alive).toBe(false);
    } finally {
      system.child.kill("SIGKILL");
    }
  });

  it("replaces an API process that dies; when the primary is SIGKILLed, every child exits by itself", async () => {
    const env = await isolatedEnv("process_crash");
    const system = start("main.js", {
      ...env,
      ...SUPERVISED,
      JWT_SECRET: "process-test-secret-0123456789abcdef",
    });
    const listening = await system.waitForLogs((e) => e.msg === "api listening", 2, "'api listening'");
    await system.waitForLogs((e) => e.msg === "workers started", 1, "'workers started'");
    const base = `http://127.0.0.1:${listening[0]!.port}`;
    const victim = listening[0]!.pid!;
    const started = system.logs.filter((e) => e.msg === "child started");
    const slot = started.find((e) => e.child_pid === victim)!.slot;

    process.kill(victim, "SIGKILL");
    const [died] = await system.waitForLogs((e) => e.msg === "child died unexpectedly; replacing it");
    expect(died).toMatchObject({ role: "api", slot, child_pid: victim, code: null, signal: "SIGKILL" });
    // The other API process keeps answering meanwhile.
    expect((await fetch(`${base}/health`)).status).toBe(200);
    const replaced = await system.waitForLogs(
      (e) => e.msg === "child started" && e.role === "api" && e.slot === slot && e.child_pid !== victim,
    );
    const newPid = replaced[0]!.child_pid!;
    const relisten = await system.waitForLogs((e) => e.msg === "api listening" && e.pid === newPid);
    expect(relisten[0]!.port).toBe(listening[0]!.port);
    expect(processInfo(newPid)).toEqual({ alive: true, title: "payments-api", ppid: system.pid });
    expect(processInfo(victim).alive).toBe(false);
    for (let i = 0; i < 4; i++) expect(await getOnNewConnection(`${base}/health`, "")).toBe(200);

    const children = system.logs.filter((e) => e.msg === "child started").map((e) => e.child_pid!);
    const live = children.filter((pid) => processInfo(pid).alive);
    expect(live).toHaveLength(3);
    system.child.kill("SIGKILL");
    await exited(system.child);
    // No orphan keeps serving: each notices the supervisor is gone and shuts down cleanly.
    await waitFor(async () => live.every((pid) => !processInfo(pid).alive), {
      timeoutMs: 10_000,
      what: "the children of a SIGKILLed primary to exit",
    });
    const goodbyes = system.logs.filter((e) => e.msg === "stopped" && live.includes(e.pid!));
    expect(goodbyes).toHaveLength(3);
    await expect(fetch(`${base}/health`)).rejects.toThrow();
  });
});

describe("npm start when its log reader is gone", () => {
  it("still stops every process promptly on SIGTERM (a broken stdout pipe never blocks an exit)", async () => {
    const env = await isolatedEnv("process_epipe");
    const system = start("main.js", {
      ...env,
      ...SUPERVISED,
      JWT_SECRET: "process-test-secret-0123456789abcdef",
    });
    await system.waitForLogs((e) => e.msg === "api listening", 2, "'api listening'");
    await system.waitForLogs((e) => e.msg === "workers started", 1, "'workers started'");
    const children = system.logs.filter((e) => e.msg === "child started").map((e) => e.child_pid!);
    expect(children).toHaveLength(3);
    // Close the read end: from now on every write to stdout, in every process, fails with EPIPE.
    system.child.stdout!.destroy();
    const t0 = Date.now();
    system.child.kill("SIGTERM");
    expect(await exited(system.child)).toBe(0);
    // Well before the supervisor's 30 s SIGKILL deadline.
    expect(Date.now() - t0).toBeLessThan(10_000);
    for (const pid of children) expect(processInfo(pid).alive).toBe(false);
  });
});

describe("single-role entry points (compiled)", () => {
  it("npm run start:api and start:worker run on their own, migrating under the advisory lock", async () => {
    const env = await isolatedEnv("process_single");
    const apiProcess = start("api/main.js", { ...env, PORT: "0" });
    const workerProcess = start("worker/main.js", env);
    const [listening] = await apiProcess.waitForLogs((e) => e.msg === "api listening");
    await workerProcess.waitForLogs((e) => e.msg === "workers started");
    expect(processInfo(apiProcess.pid).title).toBe("payments-api");
    expect(processInfo(workerProcess.pid).title).toBe("payments-worker");
    expect((await fetch(`http://127.0.0.1:${listening!.port}/ready`)).status).toBe(200);
    apiProcess.child.kill("SIGTERM");
    workerProcess.child.kill("SIGTERM");
    expect([await exited(apiProcess.child), await exited(workerProcess.child)]).toEqual([0, 0]);
  });

  it("refuses a bad configuration with one clear line and exit code 1", () => {
    const run = (script: string, env: Record<string, string>) =>
      spawnSync(process.execPath, [join(OUT, script)], {
        env: { ...process.env, ...env },
        encoding: "utf8",
        timeout: 30_000,
      });
    expect(existsSync(join(OUT, "main.js"))).toBe(true);
    const bad = run("main.js", { PORT: "not-a-port" });
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^Invalid configuration: PORT /)]);
    const none = run("main.js", { API_PROCESSES: "0" });
    expect(none.status).toBe(1);
    expect(none.stderr).toMatch(/^Invalid configuration: API_PROCESSES /);
    const prod = run("api/main.js", { NODE_ENV: "production", JWT_SECRET: "" });
    expect(prod.status).toBe(1);
    expect(prod.stderr).toMatch(/JWT_SECRET is required when NODE_ENV=production/);
    expect(prod.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
});
